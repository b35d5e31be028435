"""Association rules from the training matrix (definitions: services/common/models/rules.py).

A transaction is a user's set of positively weighted products. Thresholds come from
`recsys train --rules-min-count/--rules-min-confidence/--rules-min-lift/--rules-top-n`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml.training.dataset import TrainingData
from services.common.models.bundle import align
from services.common.models.rules import RuleParams, Rules, mine_rules

NAME = "association_rules"
Params = RuleParams


def quick() -> RuleParams:
    return RuleParams()


def train(
    data: TrainingData,
    params: RuleParams | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Rules:
    coo = data.matrix.tocoo()
    rules = mine_rules(
        coo.row.astype(np.int64),
        coo.col.astype(np.int64),
        data.n_users,
        data.n_items,
        params or RuleParams(),
        item_ids=data.item_ids.copy(),
    )
    if progress:
        progress("association rules", 1, 1)
    return rules


class _RulesScorer:
    """score(u, b) = sum over the user's items a of lift * confidence (a -> b)."""

    name = NAME

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def score(self, data: TrainingData, users: np.ndarray) -> np.ndarray:
        rules = self.rules.aligned(data.item_ids)
        x = data.matrix[users].copy()
        x.data[:] = 1.0
        scores = np.asarray((x @ rules.matrix).todense(), dtype=np.float32)
        unknown = align(self.rules.item_ids, data.item_ids) < 0
        scores[:, unknown] = -np.inf
        return scores


def scorer(rules: Rules) -> _RulesScorer:
    return _RulesScorer(rules)


__all__ = ["NAME", "Params", "quick", "scorer", "train"]
