"""Human-readable reasons for one ranked item, strongest first.

Each source that found the item proposes a reason; its strength is the weight of
the signal it feeds in the active profile times its score (plus a small share of
the score, so a source with weight 0 can still explain an item). A diversity pick
says so first. At most `MAX_REASONS` distinct reasons; never none.
"""

from __future__ import annotations

from services.common.contracts import CandidateSource
from services.ranking.scoring import is_product_id

MAX_REASONS = 2
_UNWEIGHTED = 0.01
# Item-anchored sources: (signal, reason) when the anchor is not a recent view.
ITEM_REASONS = {
    CandidateSource.content: ("content", "Similar to {name}"),
    CandidateSource.semantic: ("semantic", "Similar to {name}"),
    CandidateSource.association: ("collaborative", "Often bought with {name}"),
    CandidateSource.als: ("als", "Customers who liked {name} also liked this"),
}


def reasons_for(
    *,
    product_id: str,
    main_category: str,
    sub_category: str,
    discount: float,
    source_scores: dict[CandidateSource, float],
    anchors: dict[tuple[str, CandidateSource], str],
    names: dict[str, str],
    recent_items: set[str],
    context_items: set[str],
    query: str | None,
    weights: dict[str, float],
    affinity: float,
    diversity_pick: bool,
) -> list[str]:
    proposals: list[tuple[float, str]] = []

    def propose(signal: str, score: float, text: str) -> None:
        proposals.append((weights.get(signal, 0.0) * score + _UNWEIGHTED * score, text))

    for source, score in source_scores.items():
        if score <= 0:
            continue
        anchor = anchors.get((product_id, source))
        if source == CandidateSource.two_tower:
            propose("two_tower", score, "Picked for you from your recent activity")
        elif source == CandidateSource.als and not anchor:
            propose("als", score, "Customers with similar taste liked this")
        elif source == CandidateSource.semantic and anchor and not is_product_id(anchor):
            propose("semantic", score, f'Matches your search "{anchor}"')
        elif source in ITEM_REASONS:
            name = names.get(anchor or "")
            if name is None:
                continue
            if anchor in recent_items and anchor not in context_items:
                propose("clicked", score, f"Because you viewed {name}")
            else:
                signal, text = ITEM_REASONS[source]
                propose(signal, score, text.format(name=name))
        elif source == CandidateSource.search:
            propose("query", score, f'Matches your search "{anchor or query or ""}"')
        elif source == CandidateSource.trending:
            propose("trending", score, f"Trending in {main_category}")
        elif source == CandidateSource.popular:
            propose("popularity", score, f"Popular in {main_category}")
        elif source == CandidateSource.best_value:
            if discount >= 0.01:
                propose("popularity", score, f"Great value: {round(discount * 100)}% off")
        elif source == CandidateSource.top_category:
            propose("popularity", score, f"Top rated in {sub_category}")
    if affinity > 0:
        propose("affinity", affinity, f"Because you like {main_category}")

    out: list[str] = [f"Something different: {main_category}"] if diversity_pick else []
    for _, text in sorted(proposals, key=lambda p: -p[0]):
        if len(out) >= MAX_REASONS:
            break
        if text not in out:
            out.append(text)
    return out or [f"Popular in {main_category}"]
