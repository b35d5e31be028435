"""Pure feature maths on raw Redis values (bytes in, plain Python out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

LAST_ACTIVE_FIELD = "last_active"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_list(values: Sequence[bytes | str]) -> list[str]:
    return [_text(v) for v in values]


def category_affinity(raw: Mapping[bytes | str, bytes | str | float], scale: float) -> dict:
    """Stored sums (weight * growth) -> decayed values (* scale) -> shares summing to 1.

    Negative values (more removals than interest) are clipped to 0; a user with no
    positive interest gets {}. The scale cancels out of the shares but is applied
    anyway so the intermediate values are the real decayed sums of DESIGN section 6.
    """
    decayed = {_text(k): max(float(v) * scale, 0.0) for k, v in raw.items()}
    total = sum(decayed.values())
    if total <= 0.0:
        return {}
    shares = {k: v / total for k, v in decayed.items() if v > 0.0}
    return dict(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0])))


def event_counts(raw: Mapping[bytes | str, bytes | str]) -> tuple[dict[str, int], datetime | None]:
    """The counts hash -> ({event_type: n}, last_active)."""
    counts: dict[str, int] = {}
    last_active = None
    for k, v in raw.items():
        key = _text(k)
        if key == LAST_ACTIVE_FIELD:
            last_active = datetime.fromtimestamp(float(v), UTC)
        else:
            counts[key] = int(v)
    return counts, last_active


def normalise(scores: Sequence[float | None], max_score: float | None) -> list[float]:
    """Scores -> 0..1 of the max; absent or non-positive scores -> 0."""
    if not max_score or max_score <= 0.0:
        return [0.0] * len(scores)
    return [min(max(s, 0.0) / max_score, 1.0) if s is not None else 0.0 for s in scores]
