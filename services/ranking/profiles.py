"""Named weight profiles: built-in defaults in profiles.json, overridable by a file
named in RANKING_PROFILES_PATH (same shape; its entries replace the built-in ones
of the same name). Validated at startup, so a bad file stops the service early."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from services.common.contracts import Surface, UserFeatures

BUILTIN_PATH = Path(__file__).with_name("profiles.json")
SIGNALS = (
    "clicked",
    "collaborative",
    "query",
    "content",
    "popularity",
    "trending",
    "diversity",
    "affinity",
    "als",
    "two_tower",
    "semantic",
)


@dataclass(frozen=True)
class Profiles:
    weights: dict[str, dict[str, float]]
    surface_defaults: dict[str, str]
    cold_start_profile: str

    def resolve(self, surface: Surface, user: UserFeatures | None, name: str | None) -> str:
        """The requested profile, else the surface's default (cold start for an
        unknown user on home). Raises KeyError for an unknown requested name."""
        if name is not None:
            if name not in self.weights:
                raise KeyError(name)
            return name
        if surface == Surface.home and (user is None or not user.known):
            return self.cold_start_profile
        return self.surface_defaults[str(surface)]


def load_profiles(override_path: str | None = None) -> Profiles:
    doc = orjson.loads(BUILTIN_PATH.read_bytes())
    if override_path:
        extra = orjson.loads(Path(override_path).read_bytes())
        doc["profiles"] = {**doc["profiles"], **extra.get("profiles", {})}
        doc["surface_defaults"] = {**doc["surface_defaults"], **extra.get("surface_defaults", {})}
        doc["cold_start_profile"] = extra.get("cold_start_profile", doc["cold_start_profile"])
    return parse_profiles(doc)


def parse_profiles(doc: dict) -> Profiles:
    weights: dict[str, dict[str, float]] = {}
    for name, profile in doc["profiles"].items():
        unknown = set(profile) - set(SIGNALS)
        if unknown:
            raise ValueError(f"profile {name!r}: unknown signals {sorted(unknown)}")
        if any(not isinstance(v, int | float) or v < 0 for v in profile.values()):
            raise ValueError(f"profile {name!r}: weights must be non-negative numbers")
        weights[name] = {s: float(profile.get(s, 0.0)) for s in SIGNALS}
    defaults = dict(doc["surface_defaults"])
    missing = {s.value for s in Surface} - set(defaults)
    if missing:
        raise ValueError(f"surface_defaults: no profile for {sorted(missing)}")
    cold = doc["cold_start_profile"]
    for target in [*defaults.values(), cold]:
        if target not in weights:
            raise ValueError(f"unknown profile {target!r} referenced")
    return Profiles(weights, defaults, cold)
