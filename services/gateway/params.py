"""Request parsing that FastAPI's declarative parameters cannot express. Validation goes
through the contracts; failures become the uniform 422 (400 for malformed JSON)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from services.common.contracts import USER_ID_PATTERN, CartRequest
from services.common.errors import ApiError

_USER_ID = re.compile(USER_ID_PATTERN)


def validation_error(exc: ValidationError, location: str) -> RequestValidationError:
    """Pydantic errors -> the framework's validation error (-> uniform 422 with a field)."""
    errors = []
    for err in exc.errors(include_url=False, include_context=False):
        errors.append({**err, "loc": (location, *err["loc"])})
    return RequestValidationError(errors)


def parse_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from exc


def validate(model: type[BaseModel], data: object, location: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, location) from exc


def split_product_ids(raw: str) -> list[str]:
    """'A, B,,A' -> ['A', 'B']: trimmed, empty parts dropped, first occurrence kept."""
    parts = (p.strip() for p in raw.split(","))
    return list(dict.fromkeys(p for p in parts if p))


def cart_from_query(product_ids: str, user_id: str | None, k: int) -> CartRequest:
    """GET cart: the ids arrive as one query parameter, so errors name `product_ids` (the
    parameter the client sent); the message says which entry was wrong."""
    data = {"product_ids": split_product_ids(product_ids), "k": k}
    if user_id is not None:
        data["user_id"] = user_id
    try:
        return CartRequest.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_context=False):
            loc = err["loc"]
            if loc and loc[0] == "product_ids" and len(loc) > 1:
                err = {**err, "msg": f"product_ids[{loc[1]}]: {err['msg']}", "loc": loc[:1]}
            errors.append({**err, "loc": ("query", *err["loc"])})
        raise RequestValidationError(errors) from exc


def batch_user_ids(payload: object) -> set[str]:
    """User ids named by an accepted POST /v1/events body (one event or {"events": [...]}),
    for cache invalidation. Lenient: ingest has validated the body already."""
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        events: Iterable[object] = payload["events"]
    elif isinstance(payload, list):
        events = payload
    else:
        events = [payload]
    users = set()
    for event in events:
        if isinstance(event, dict):
            user = event.get("user_id")
            if isinstance(user, str) and _USER_ID.match(user):
                users.add(user)
    return users
