"""The `recsys` command line: migrations, catalog import, synthetic data, Redis rebuild.

    recsys migrate
    recsys import-catalog ../shared/data/amazon/amazon-products.csv --report report.json
    recsys generate --out .local/synthetic
    recsys load-demo [--force]
    recsys rebuild-realtime
    recsys feast-apply
    recsys materialize [--full]
    recsys feast-env
    recsys train [--quick] [--source als ...] [--alias challenger] [--force]
    recsys evaluate --ratings ../shared/data/movielens-latest-small/ratings.csv [--output r.json]

Also runnable as `python -m ml.cli ...`.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/recsys"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

app = typer.Typer(help="Recsys batch jobs and data tools.", no_args_is_help=True)
console = Console(stderr=True)

DatabaseUrl = Annotated[
    str, typer.Option("--database-url", envvar="DATABASE_URL", help="Postgres DSN.")
]
RedisUrl = Annotated[str, typer.Option("--redis-url", envvar="REDIS_URL", help="Redis URL.")]
RedisPrefix = Annotated[
    str, typer.Option("--redis-prefix", envvar="REDIS_PREFIX", help="Prefix of every Redis key.")
]


def _redis(url: str):
    from services.common.cache import create_redis

    # A rebuild sends pipelines of ~100k commands: allow more than a service's 1 s timeout.
    return create_redis(url, socket_timeout=120)


@contextmanager
def _progress(total: int | None = None):
    """A rich progress bar; yields update(stage, done)."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns += [TextColumn("{task.completed:,.0f}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield update


# --------------------------------------------------------------------------- commands


@app.command()
def migrate(database_url: DatabaseUrl = DEFAULT_DATABASE_URL) -> None:
    """Apply pending SQL migrations."""
    from services.common.db import migrate as run_migrate

    applied = asyncio.run(run_migrate(database_url))
    console.print(f"migrations applied: {applied or 'none (up to date)'}")


@app.command("import-catalog")
def import_catalog(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Amazon CSV.")],
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the full report as JSON.")
    ] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Import an Amazon products CSV into `products` (idempotent upsert)."""
    from ml.catalog import import_catalog as run_import

    started = time.perf_counter()
    with console.status("importing catalog") as status:
        result = asyncio.run(run_import(database_url, path, progress=status.update))
    result.check()
    table = Table(title=f"import of {path.name}", show_header=False)
    table.add_row("rows read", f"{result.rows_read:,}")
    table.add_row("products upserted", f"{result.products_upserted:,}")
    table.add_row("merged into an earlier row (same id)", f"{result.merged:,}")
    table.add_row("rejected", f"{result.rejected_total:,}")
    for reason, n in sorted(result.rejected.items()):
        table.add_row(f"  rejected: {reason}", f"{n:,}")
    for reason, n in sorted(result.repaired.items()):
        table.add_row(f"  repaired: {reason}", f"{n:,}")
    table.add_row("seconds", f"{time.perf_counter() - started:.2f}")
    Console().print(table)
    if report:
        report.write_text(json.dumps(result.as_dict(), indent=2))
        console.print(f"report written to {report}")


def _end_date(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Seed = Annotated[int, typer.Option(help="Random seed.")]
Products = Annotated[int, typer.Option("--products", min=1, help="Number of products.")]
Users = Annotated[int, typer.Option("--users", min=1, help="Number of users.")]
Days = Annotated[int, typer.Option("--days", min=1, help="Days of history.")]
EndDate = Annotated[
    str | None,
    typer.Option("--end-date", help="ISO date/time the history ends (default: today 00:00 UTC)."),
]


def _generate(seed: int, products: int, users: int, days: int, end_date: str | None):
    from ml.synthetic import SyntheticConfig, generate

    cfg = SyntheticConfig(seed, products, users, days, _end_date(end_date))
    started = time.perf_counter()
    with console.status("generating synthetic data"):
        data = generate(cfg)
    seconds = time.perf_counter() - started
    console.print(
        f"generated {len(data.products):,} products, {len(data.users):,} users, "
        f"{data.n_events:,} events in {seconds:.2f}s"
    )
    return data, seconds


@app.command()
def generate(
    seed: Seed = 42,
    products: Products = 5000,
    users: Users = 5000,
    days: Days = 60,
    end_date: EndDate = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path(".local/synthetic"),
) -> None:
    """Generate the synthetic catalog and events as CSV files (no database needed)."""
    from ml.synthetic import write_csv

    data, _ = _generate(seed, products, users, days, end_date)
    for path in write_csv(data, out):
        console.print(f"wrote {path}")


@app.command("load-demo")
def load_demo(
    force: Annotated[bool, typer.Option("--force", help="Regenerate and reload.")] = False,
    seed: Seed = 42,
    products: Products = 5000,
    users: Users = 5000,
    days: Days = 60,
    end_date: EndDate = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    redis_prefix: RedisPrefix = "recsys:",
) -> None:
    """Migrate, generate and bulk-load the synthetic data, then rebuild Redis."""
    from ml.loaders import load_synthetic, synthetic_counts
    from services.common.db import connect
    from services.common.db import migrate as run_migrate

    asyncio.run(run_migrate(database_url))

    async def counts() -> tuple[int, int]:
        conn = await connect(database_url)
        try:
            return await synthetic_counts(conn)
        finally:
            await conn.close()

    n_products, n_events = asyncio.run(counts())
    if not force and n_products == products and n_events > 0:
        console.print(
            f"reusing existing data ({n_products:,} synthetic products, {n_events:,} events);"
            " use --force to regenerate"
        )
        if not asyncio.run(_realtime_present(redis_url, redis_prefix)):
            # Redis holds derived state only; a Redis without persistence (or a new
            # one) comes back empty: recompute it from Postgres.
            console.print("real-time state missing in Redis: rebuilding")
            _rebuild(database_url, redis_url, redis_prefix)
        return
    data, _ = _generate(seed, products, users, days, end_date)
    with _progress() as update:
        stats = asyncio.run(load_synthetic(database_url, data, progress=update))
    console.print(
        f"loaded {stats.products:,} products and {stats.events:,} events in {stats.seconds:.2f}s"
    )
    _rebuild(database_url, redis_url, redis_prefix)


async def _realtime_present(redis_url: str, redis_prefix: str) -> bool:
    from services.common.keys import Keys

    redis = _redis(redis_url)
    try:
        return bool(await redis.exists(Keys(redis_prefix).popularity))
    finally:
        await redis.aclose()


def _rebuild(database_url: str, redis_url: str, redis_prefix: str) -> None:
    from ml.loaders import count_events, rebuild_realtime
    from services.common.keys import Keys

    total = asyncio.run(count_events(database_url))

    async def run(update):
        redis = _redis(redis_url)
        try:
            return await rebuild_realtime(database_url, redis, Keys(redis_prefix), progress=update)
        finally:
            await redis.aclose()

    with _progress(total) as update:
        stats = asyncio.run(run(update))
    console.print(
        f"rebuilt real-time state under {redis_prefix!r}: removed {stats.keys_removed:,} keys,"
        f" replayed {stats.events:,} events in {stats.seconds:.2f}s"
    )


@app.command("rebuild-realtime")
def rebuild_realtime(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    redis_prefix: RedisPrefix = "recsys:",
) -> None:
    """Rebuild Redis real-time features, popularity and trending from Postgres events."""
    _rebuild(database_url, redis_url, redis_prefix)


FeastProject = Annotated[
    str, typer.Option("--project", envvar="FEAST_PROJECT", help="Feast project name.")
]


@app.command("feast-env")
def feast_env_cmd(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    project: FeastProject = "recsys",
) -> None:
    """Print the FEAST_* variables of feature_repo/feature_store.yaml as `export` lines:
    eval "$(recsys feast-env)" && feast -c feature_repo apply"""
    import shlex

    from ml.feature_store import feast_env

    for key, value in feast_env(database_url, redis_url, project).items():
        print(f"export {key}={shlex.quote(value)}")


@app.command("feast-apply")
def feast_apply(
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    project: FeastProject = "recsys",
) -> None:
    """Register the feature repo (feature_repo/definitions.py) in the Feast registry and
    create the online store infrastructure (`feast apply`). Idempotent."""
    from ml.feature_store import apply, get_store

    started = time.perf_counter()
    names = apply(get_store(database_url, redis_url, project))
    console.print(
        f"feast project {project!r}: applied {len(names)} objects in"
        f" {time.perf_counter() - started:.2f}s"
    )


@app.command()
def materialize(
    full: Annotated[
        bool, typer.Option("--full", help="Rematerialise all history (not incremental).")
    ] = False,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    redis_url: RedisUrl = DEFAULT_REDIS_URL,
    redis_prefix: RedisPrefix = "recsys:",
    project: FeastProject = "recsys",
) -> None:
    """Materialise the Postgres feature views into the Redis online store (incremental
    by default), then push Redis popularity/trending into `product_stats`."""
    from ml.feature_store import (
        get_store,
        materialize_incremental,
        online_store_empty,
        push_product_stats,
    )
    from ml.feature_store import materialize as run_materialize

    store = get_store(database_url, redis_url, project)
    now = datetime.now(UTC)
    if not full and online_store_empty(project, redis_url):
        # Incremental runs start at the registry's watermark; an emptied Redis would
        # stay empty. Everything the views hold is written again instead.
        console.print("online store empty for this project: full materialisation")
        full = True
    if full:
        stats = run_materialize(datetime(2000, 1, 1, tzinfo=UTC), now, store)
    else:
        stats = materialize_incremental(now, store)
    started = time.perf_counter()
    pushed = push_product_stats(store, redis_url, redis_prefix, now)
    push_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "project": project,
                "mode": "full" if full else "incremental",
                "rows": stats.rows,
                "seconds": round(stats.seconds, 2),
                "product_stats_pushed": pushed,
                "push_seconds": round(push_seconds, 2),
            }
        )
    )


TrackingUri = Annotated[
    str,
    typer.Option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow server/store."),
]
DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"


@app.command()
def train(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Train only these sources (repeatable); default all."),
    ] = None,
    alias: Annotated[
        str, typer.Option(help="champion (moves only if not worse) or challenger.")
    ] = "champion",
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast settings.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Move champion even if the new one is worse.")
    ] = False,
    tolerance: Annotated[
        float, typer.Option(help="Relative tolerance of the champion rule.")
    ] = 0.01,
    days: Annotated[int, typer.Option(help="Interactions of the last N days.")] = 365,
    rules_min_count: Annotated[int, typer.Option(help="Rules: minimum co-occurring users.")] = 2,
    rules_min_confidence: Annotated[float, typer.Option(help="Rules: minimum confidence.")] = 0.05,
    rules_min_lift: Annotated[float, typer.Option(help="Rules: minimum lift.")] = 1.0,
    rules_top_n: Annotated[int, typer.Option(help="Rules kept per antecedent.")] = 50,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
    tracking_uri: TrackingUri = DEFAULT_TRACKING_URI,
) -> None:
    """Train every candidate source on the interactions in Postgres, evaluate it on a
    75/25 holdout, log it to MLflow and register it (see docs/model-registry.md)."""
    from ml.training.interactions import load_interactions
    from ml.training.pipeline import train_all
    from services.common.models.registry import ALIASES, SOURCES

    chosen = tuple(source or SOURCES)
    unknown = [s for s in chosen if s not in SOURCES]
    if unknown or alias not in ALIASES:
        raise typer.BadParameter(
            f"sources must be among {', '.join(SOURCES)}; alias one of {', '.join(ALIASES)}"
        )
    started = time.perf_counter()
    data = load_interactions(database_url, days=days)
    console.print(
        f"interactions: {data.n_users:,} users, {data.n_items:,} items,"
        f" {data.matrix.nnz:,} pairs ({time.perf_counter() - started:.1f}s)"
    )
    if data.matrix.nnz == 0:
        console.print("no interactions: nothing to train (run `recsys load-demo` first)")
        raise typer.Exit(1)
    rules = {
        "min_count": rules_min_count,
        "min_confidence": rules_min_confidence,
        "min_lift": rules_min_lift,
        "top_n": rules_top_n,
    }
    with _progress() as update:
        results = train_all(
            data,
            tracking_uri=tracking_uri,
            sources=chosen,
            quick=quick,
            overrides={"association_rules": rules},
            alias=alias,
            tolerance=tolerance,
            force=force,
            progress=lambda stage, done, total: update(stage, done),
        )
    table = Table("source", "version", "aliases", "p@10", "ndcg@10", "recall@10", "s", "decision")
    for r in results:
        m, reg = r.metrics, r.registration
        table.add_row(
            r.source,
            f"{reg.name}/{reg.version}",
            ",".join(reg.aliases) or "-",
            f"{m['precision@10']:.4f}",
            f"{m['ndcg@10']:.4f}",
            f"{m['recall@10']:.4f}",
            f"{r.train_seconds:.1f}",
            reg.decision,
        )
    console.print(table)


@app.command("tune-blend")
def tune_blend(
    output: Annotated[
        Path, typer.Option("--output", help="Write the weights and metrics (JSON).")
    ] = Path("docs/benchmarks/blend-weights.json"),
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast model settings.")] = False,
    days: Annotated[int, typer.Option(help="Interactions of the last N days.")] = 365,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Tune the ranking weights of the learned sources per surface on the evaluation
    split of the interactions in Postgres (docs/benchmarks/blend-weights.md)."""
    from ml.training.interactions import load_interactions
    from ml.training.tune import tune

    data = load_interactions(database_url, days=days)
    with _progress() as update:
        results = tune(data, quick=quick, progress=lambda stage, d, t: update(stage, d))
    results["data"] = {"users": data.n_users, "items": data.n_items, "pairs": data.matrix.nnz}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, sort_keys=True))
    for surface, r in results.items():
        if surface != "data":
            console.print(f"{surface}: weights {r['signals']}")
            for name, m in r["test"].items():
                console.print(
                    f"  {name:12} p@10 {m['precision@10']:.4f}  ndcg@10 {m['ndcg@10']:.4f}"
                    f"  recall@10 {m['recall@10']:.4f}"
                )


@app.command()
def evaluate(
    ratings: Annotated[
        Path, typer.Option("--ratings", help="MovieLens-format ratings CSV (with header).")
    ],
    output: Annotated[Path | None, typer.Option("--output", help="Write results JSON.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small, fast model settings.")] = False,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Only these models (repeatable).")
    ] = None,
) -> None:
    """Offline evaluation of every model and two baselines on a ratings file
    (stratified 75/25 per user, seed 42, seen items removed; DESIGN section 8)."""
    from ml.evaluation.run import evaluate_file, format_table

    if not ratings.is_file():
        raise typer.BadParameter(f"{ratings} is not a file", param_hint="--ratings")
    with _progress() as update:
        results = evaluate_file(
            ratings,
            output,
            models=model,
            quick=quick,
            progress=lambda stage, done, total: update(stage, done),
        )
    print(format_table(results))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
