import orjson
import pytest

from services.common.contracts import Surface, UserFeatures
from services.ranking.profiles import load_profiles, parse_profiles


def test_seed_profiles_and_surface_defaults():
    p = load_profiles()
    home = p.weights["seed_home"]
    assert (home["clicked"], home["query"], home["diversity"]) == (0.5, 0.4, 0.1)
    hybrid = p.weights["seed_hybrid"]
    assert (hybrid["collaborative"], hybrid["query"], hybrid["trending"], hybrid["diversity"]) == (
        0.4,
        0.3,
        0.2,
        0.1,
    )
    content = p.weights["seed_content"]
    assert (content["content"], content["collaborative"], content["popularity"]) == (0.5, 0.3, 0.2)
    # The surfaces' defaults blend the learned sources (weights tuned offline).
    assert p.weights["home"]["als"] > 0 and p.weights["content"]["semantic"] > 0
    known = UserFeatures(user_id="u", known=True)
    expected = {
        Surface.home: "home",
        Surface.product: "content",
        Surface.search: "hybrid",
        Surface.cart: "hybrid",
        Surface.frequently_bought_together: "bought_together",
    }
    for surface, name in expected.items():
        assert p.resolve(surface, known, None) == name
    assert p.resolve(Surface.home, None, None) == "cold_start"
    assert p.resolve(Surface.home, UserFeatures(user_id="u", known=False), None) == "cold_start"
    assert p.resolve(Surface.home, known, "hybrid") == "hybrid"
    with pytest.raises(KeyError):
        p.resolve(Surface.home, known, "nope")


def test_override_file_merges(tmp_path):
    path = tmp_path / "profiles.json"
    path.write_bytes(
        orjson.dumps(
            {
                "profiles": {"home": {"clicked": 1.0}, "promo": {"trending": 1.0}},
                "surface_defaults": {"cart": "promo"},
            }
        )
    )
    p = load_profiles(str(path))
    assert p.weights["home"]["clicked"] == 1.0 and p.weights["home"]["query"] == 0.0
    assert p.resolve(Surface.cart, None, None) == "promo"
    assert "content" in p.weights  # built-ins kept


def test_invalid_profiles_fail():
    base = orjson.loads((load_profiles.__globals__["BUILTIN_PATH"]).read_bytes())
    bad = {**base, "profiles": {**base["profiles"], "x": {"clickz": 1}}}
    with pytest.raises(ValueError, match="unknown signals"):
        parse_profiles(bad)
    bad = {**base, "surface_defaults": {**base["surface_defaults"], "cart": "missing"}}
    with pytest.raises(ValueError, match="unknown profile"):
        parse_profiles(bad)
