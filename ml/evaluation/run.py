"""`recsys evaluate`: every model and the baselines on a MovieLens ratings file.

Protocol (DESIGN section 8): stratified 75/25 split per user with seed 42, seen items
removed, every held-out rating relevant, k = 10. Each model is fitted on the train part
and scored on the test part. The blend's weights are tuned on an inner split of the
train part (75/25 again), never on the test part; the blend of the models fitted on
the whole train part is then scored on the test part like any other model.

Learned models come from the trainer modules in `TRAINERS`, imported lazily; a module
that is missing (or whose import fails) is skipped with a logged note, and a model
whose training fails is reported with its "error" instead of aborting the run.
Each trainer module exposes `NAME`, `Params`, `train(data, params=None, progress=None)`
and `scorer(bundle)`. With `quick`, a trainer's params come from `Params.quick()` when
it defines one, and the blend search uses a coarser grid.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import scipy.sparse as sp

from ml.evaluation.baselines import Ease, ItemKNN, MostPopular
from ml.evaluation.blend import GRID, QUICK_GRID, BlendScorer, tune_weights
from ml.evaluation.metrics import evaluate_scorer
from ml.evaluation.movielens import Weighting, load_ratings
from ml.evaluation.split import stratified_split
from ml.training.dataset import Scorer, TrainingData

log = logging.getLogger(__name__)

# Model name (the module's NAME) -> trainer module; names let `models` skip an import.
TRAINERS = {
    "als": "ml.training.als",
    "two_tower": "ml.training.two_tower",
    "content_embeddings": "ml.training.content",
    "association_rules": "ml.training.rules",
}
CONTENT_TRAINERS = frozenset({"content_embeddings"})
# Trainers that learn nothing from interactions: the model fitted on the train part is
# also the inner split's (scoring reads the user's history from the data it is given).
INTERACTION_FREE = frozenset({"content_embeddings"})
BLEND = "blend"
SERVED_BLEND = "blend_served"
SERVED = frozenset({"als", "two_tower", "content_embeddings", "association_rules"})
K = 10
Progress = Callable[[str, int, int], None]  # (stage, done, total), as the trainers


@dataclass(frozen=True)
class Candidate:
    name: str
    fit: Callable[[TrainingData], Scorer]
    blended: bool  # a source of the ranking blend
    interaction_free: bool = False


def candidates(
    data: TrainingData,
    *,
    quick: bool = False,
    progress: Progress | None = None,
    names: set[str] | None = None,
) -> list[Candidate]:
    """The baselines, EASE and every importable learned model (only `names` when given),
    in evaluation order."""
    out = [
        Candidate("most_popular", MostPopular.fit, False),
        # SAR as Microsoft Recommenders benchmarks it (jaccard): the published reference.
        Candidate("item_knn", ItemKNN.fit, True),
        Candidate("ease", Ease.fit, True),
    ]
    for name, module_name in TRAINERS.items():
        if names is not None and name not in names:
            continue
        if name in CONTENT_TRAINERS and data.content is None:
            log.info("skipping %s: the ratings file has no movies.csv beside it", name)
            continue
        module = _import(module_name)
        if module is not None:
            fit = _trainer_fit(module, quick, progress)
            out.append(Candidate(module.NAME, fit, True, name in INTERACTION_FREE))
    return [c for c in out if names is None or c.name in names]


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        log.warning("skipping %s: not importable (%s)", name, exc)
        return None


def _trainer_fit(module: ModuleType, quick: bool, progress: Progress | None):
    def fit(train: TrainingData) -> Scorer:
        quick_params = getattr(module.Params, "quick", None) if quick else None
        params = quick_params() if callable(quick_params) else None
        return module.scorer(module.train(train, params=params, progress=progress))

    return fit


def evaluate_file(
    path: Path,
    output: Path | None = None,
    *,
    models: list[str] | None = None,
    quick: bool = False,
    progress: Progress | None = None,
    weighting: Weighting = "binary",
) -> dict[str, dict[str, Any]]:
    """{model name: {metric: value, "train_seconds": s}} for the baselines, every learned
    model and the blend ("weights": the tuned weights, "validation": their metrics on
    the inner split). `models` restricts the run to those names; with "blend" among
    them, the blend is of the listed sources (of all of them when "blend" is alone).
    `output` also gets the result as JSON."""
    data = load_ratings(path, weighting=weighting)
    train, test = stratified_split(data, 0.75, 42)
    log.info(
        "%s: %d users, %d items, %d train / %d test ratings",
        path,
        data.n_users,
        data.n_items,
        train.matrix.nnz,
        test.nnz,
    )
    wanted = set(models) if models else None
    known = {"most_popular", "item_knn", "ease", BLEND, *TRAINERS}
    if wanted and wanted - known:
        unknown = ", ".join(sorted(wanted - known))
        raise ValueError(f"unknown model(s) {unknown}; known: {', '.join(sorted(known))}")
    blend_wanted = wanted is None or BLEND in wanted
    if wanted == {BLEND}:  # the blend alone: of every source (else of the listed ones)
        wanted |= {"item_knn", "ease", *TRAINERS}
    pool = candidates(data, quick=quick, progress=progress, names=wanted)
    results: dict[str, dict[str, Any]] = {}
    fitted: dict[str, Scorer] = {}
    sources: list[Candidate] = []
    for done, cand in enumerate(pool):
        if progress:
            progress(f"evaluate {cand.name}", done, len(pool) + 1)
        started = time.perf_counter()
        try:
            scorer = cand.fit(train)
        except Exception as exc:  # one broken model must not hide the others' numbers
            log.exception("training %s failed", cand.name)
            results[cand.name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        seconds = time.perf_counter() - started
        metrics, _ = evaluate_scorer(scorer, train, test, K)
        results[cand.name] = {**metrics, "train_seconds": round(seconds, 3)}
        fitted[cand.name] = scorer
        if cand.blended:
            sources.append(cand)
        log.info("%s: %s", cand.name, _brief(results[cand.name]))
    if blend_wanted and len(sources) < 2:
        log.warning("no blend: it needs two sources, have %s", [c.name for c in sources])
    elif blend_wanted:
        if progress:
            progress(f"evaluate {BLEND}", len(pool), len(pool) + 1)
        results[BLEND] = _blend(sources, fitted, results, train, test, quick)
        log.info("%s: %s", BLEND, _brief(results[BLEND]))
        # What the platform serves: only the registered sources (no EASE / item-kNN).
        served = [c for c in sources if c.name in SERVED]
        if len(served) >= 2:
            results[SERVED_BLEND] = _blend(served, fitted, results, train, test, quick)
            log.info("%s: %s", SERVED_BLEND, _brief(results[SERVED_BLEND]))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _blend(
    sources: list[Candidate],
    fitted: dict[str, Scorer],
    results: dict[str, dict[str, Any]],
    train: TrainingData,
    test: sp.csr_matrix,
    quick: bool,
) -> dict[str, Any]:
    started = time.perf_counter()
    inner_train, validation = stratified_split(train, 0.75, 42)
    inner: dict[str, Scorer] = {}
    for c in sources:
        try:
            inner[c.name] = fitted[c.name] if c.interaction_free else c.fit(inner_train)
        except Exception:  # a source that cannot be refitted stays out of the blend
            log.exception("training %s on the inner split failed; left out of the blend", c.name)
    weights, val_metrics = tune_weights(
        inner, inner_train, validation, grid=QUICK_GRID if quick else GRID, metric=f"ndcg@{K}"
    )
    tuning = time.perf_counter() - started
    blend = BlendScorer({name: fitted[name] for name in inner}, weights)
    metrics, _ = evaluate_scorer(blend, train, test, K)
    component_seconds = sum(results[name]["train_seconds"] for name in inner)
    return {
        **metrics,
        "train_seconds": round(component_seconds + tuning, 3),
        "weights": weights,
        "validation": val_metrics,
    }


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return result["error"]
    return f"precision@{K}={result[f'precision@{K}']:.4f} ndcg@{K}={result[f'ndcg@{K}']:.4f}"


COLUMNS = (
    (f"precision@{K}", "P@10"),
    (f"recall@{K}", "R@10"),
    (f"ndcg@{K}", "nDCG@10"),
    ("map", "MAP"),
    ("catalog_coverage", "coverage"),
    ("intra_list_diversity", "ILD"),
    ("novelty", "novelty"),
    ("train_seconds", "train s"),
)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """A Markdown table, one row per model, then the blend's weights."""
    lines = [
        "| model | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"| {name} | error: {result['error']} |")
            continue
        cells = [
            f"{result[key]:.4f}" if key != "train_seconds" else f"{result[key]:.1f}"
            for key, _ in COLUMNS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, result in results.items():
        if "weights" in result:
            w = ", ".join(f"{n} {v:g}" for n, v in result["weights"].items())
            lines.append(f"\n{name} weights (tuned on the inner validation split): {w}")
    return "\n".join(lines)
