"""HTTP routes of candidate-gen: thin, the logic is in surfaces.py / sources.py."""

from __future__ import annotations

import asyncio
from collections import Counter as Tally

from fastapi import Request
from prometheus_client import Counter

from services.candidate_gen.store import IndexStore
from services.candidate_gen.surfaces import Models, generate
from services.common.app import api_router
from services.common.contracts import CandidateRequest, CandidateResponse, Surface
from services.common.errors import ApiError

CANDIDATES = Counter("recsys_candidates", "Candidates returned, per source", ["source"])

router = api_router(tags=["candidates"])


@router.post("/v1/candidates", response_model=CandidateResponse)
async def candidates(body: CandidateRequest, request: Request) -> CandidateResponse:
    store: IndexStore = request.app.state.store
    # Read once, together: a concurrent swap does not affect this request.
    ix, learned = store.current, store.learned
    if ix is None:
        raise ApiError(503, "indexes_not_loaded", "candidate indexes are not loaded yet")
    trending = await store.trending(ix)
    models = None
    if learned is not None and learned.models:
        variant = request.headers.get("x-variant")
        vectors = {}
        if (
            body.surface == Surface.search
            and body.query
            and learned.pick(variant).get("content_embeddings")
        ):
            # ~5 ms of model time (memoised per query): off the event loop.
            vectors[body.query] = await asyncio.to_thread(query_vector, body.query)
        min_sim = store.settings.semantic_min_similarity
        models = Models(learned, variant, vectors, min_sim)
    response = generate(ix, trending, body, models)
    for source, n in Tally(c.source for c in response.candidates).items():
        CANDIDATES.labels(str(source)).inc(n)
    return response


def query_vector(query: str):
    from services.common.models.encoder import encode

    return encode([query])[0]


@router.get("/v1/indexes", tags=["ops"])
async def index_info(request: Request) -> dict:
    """What is loaded: item and rule counts, build time, model versions."""
    store: IndexStore = request.app.state.store
    ix = store.current
    if ix is None:
        return {"loaded": False, "error": store.last_error}
    return {
        "loaded": True,
        "items": ix.n_items,
        "rules": ix.rules.n_rules,
        "built_at": ix.built_at.isoformat(),
        "model_versions": ix.model_versions,
        "models": {
            alias: {source: m.ref.label for source, m in by_source.items()}
            for alias, by_source in store.models.models.items()
        },
    }
