"""Association rules as a registry bundle: save/load and re-alignment to a catalog."""

from __future__ import annotations

import numpy as np

from services.common.models.rules import RuleParams, Rules, mine_rules

IDS = np.array(["A", "B", "C", "D"], dtype=object)


def rules() -> Rules:
    # users: {A,B}, {A,B}, {A,C}, {B,C}, {D}
    users = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4])
    items = np.array([0, 1, 0, 1, 0, 2, 1, 2, 3])
    return mine_rules(users, items, 5, 4, RuleParams(min_count=1, min_lift=0.0), IDS.copy())


def test_definitions_on_a_hand_computed_case():
    r = rules()
    a_to_b = r.matrix[0].toarray().ravel()[1]
    # C[A,B] = 2, count[A] = 3, count[B] = 3, n = 5: confidence 2/3, lift (2/3)/(3/5)
    confidence, lift = 2 / 3, (2 / 3) / (3 / 5)
    assert np.isclose(a_to_b, confidence * lift)
    row = slice(r.matrix.indptr[0], r.matrix.indptr[1])
    assert r.matrix.indices[row].tolist() == [1, 2]  # A->B before A->C (stronger)
    assert np.allclose(r.support[row], [2 / 5, 1 / 5])
    assert r.matrix[3].nnz == 0  # D co-occurs with nothing


def test_save_load_round_trip(tmp_path):
    r = rules()
    r.save(tmp_path / "rules")
    back = Rules.load(tmp_path / "rules")
    assert (back.matrix != r.matrix).nnz == 0
    assert back.item_ids.tolist() == IDS.tolist()
    assert np.allclose(back.lift, r.lift) and back.n_users == r.n_users


def test_aligned_to_another_catalog_order():
    r = rules()
    catalog = np.array(["C", "X", "B", "A"], dtype=object)  # D gone, X new
    moved = r.aligned(catalog)
    dense, orig = moved.matrix.toarray(), r.matrix.toarray()
    pos = {p: i for i, p in enumerate(catalog)}
    for a in "ABC":
        for b in "ABC":
            old = orig[list(IDS).index(a), list(IDS).index(b)]
            assert np.isclose(dense[pos[a], pos[b]], old)
    assert moved.matrix[pos["X"]].nnz == 0 and dense[:, pos["X"]].sum() == 0
    row = slice(moved.matrix.indptr[pos["A"]], moved.matrix.indptr[pos["A"] + 1])
    assert moved.matrix.indices[row].tolist() == [pos["B"], pos["C"]]  # order kept
    assert np.allclose(moved.confidence[row], [2 / 3, 1 / 3])
