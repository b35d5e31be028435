"""Registry round trip against a real MLflow store: register, alias, load by alias."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml.training import als
from ml.training.dataset import from_triples
from ml.training.registry import register
from services.common.models.als import AlsBundle
from services.common.models.registry import CHALLENGER, CHAMPION, Registry, registered_name

pytestmark = pytest.mark.timeout(300)


def tiny_data():
    rng = np.random.default_rng(7)
    users, items = [], []
    for u in range(30):  # two taste groups over 20 items
        group = np.arange(10) if u % 2 else np.arange(10, 20)
        for i in rng.choice(group, 6, replace=False):
            users.append(f"u{u}")
            items.append(f"I{i:09d}")
    n = len(users)
    return from_triples(np.array(users), np.array(items), np.ones(n), np.arange(n, dtype=float))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    bundle = als.train(tiny_data(), als.Params(factors=8, iterations=5))
    path = tmp_path_factory.mktemp("als") / "bundle"
    bundle.save(path)
    return bundle, path


def _register(mlflow_uri, path, metrics, **kw):
    return register(
        "als",
        path,
        tracking_uri=mlflow_uri,
        params={"factors": 8},
        metrics=metrics,
        tags={"test": "registry"},
        **kw,
    )


def test_register_alias_and_load_by_alias(mlflow_uri, trained, tmp_path):
    bundle, path = trained
    first = _register(mlflow_uri, path, {"ndcg@10": 0.30, "recall@10": 0.20})
    assert CHAMPION in first.aliases

    registry = Registry(mlflow_uri)
    ref = registry.resolve("als", CHAMPION)
    assert ref is not None and ref.version == first.version
    assert ref.name == registered_name("als") == "recsys-als"
    loaded = AlsBundle.load(registry.download(ref, tmp_path / "dl"))
    np.testing.assert_array_equal(loaded.item_factors, bundle.item_factors)
    np.testing.assert_array_equal(loaded.user_ids, bundle.user_ids)

    # A worse version is registered but does not take the champion alias.
    worse = _register(mlflow_uri, path, {"ndcg@10": 0.10, "recall@10": 0.20})
    assert CHAMPION not in worse.aliases and "ndcg@10" in worse.decision
    assert registry.resolve("als", CHAMPION).version == first.version
    tag = registry.client.get_model_version("recsys-als", worse.version).tags["promotion"]
    assert tag == worse.decision

    # A challenger is always registered as such; champion stays.
    challenger = _register(mlflow_uri, path, {"ndcg@10": 0.05, "recall@10": 0.05}, alias=CHALLENGER)
    assert registry.resolve("als", CHALLENGER).version == challenger.version
    assert registry.resolve("als", CHAMPION).version == first.version

    # An equal one (within tolerance) moves champion; --force moves it regardless.
    equal = _register(mlflow_uri, path, {"ndcg@10": 0.299, "recall@10": 0.20})
    assert registry.resolve("als", CHAMPION).version == equal.version
    forced = _register(mlflow_uri, path, {"ndcg@10": 0.01, "recall@10": 0.01}, force=True)
    assert registry.resolve("als", CHAMPION).version == forced.version
    assert forced.decision.startswith("forced")


def test_unknown_alias_resolves_to_none(mlflow_uri):
    assert Registry(mlflow_uri).resolve("two_tower", CHAMPION) is None


def test_pyfunc_by_alias_returns_neighbours(mlflow_uri, trained):
    _, path = trained
    _register(mlflow_uri, path, {"ndcg@10": 1.0, "recall@10": 1.0})
    model = mlflow.pyfunc.load_model(f"models:/recsys-als@{CHAMPION}")
    out = model.predict(pd.DataFrame({"product_id": ["I000000003", "nope"]}), params={"k": 3})
    assert len(out.loc[0, "similar"]) == 3 and "I000000003" not in out.loc[0, "similar"]
    # same taste group (items 0-9) ranks first for an item of that group
    assert all(int(p[1:]) < 10 for p in out.loc[0, "similar"])
    assert out.loc[1, "similar"] == []
