"""API keys (DESIGN section 5): `X-API-Key` against RECSYS_API_KEYS / RECSYS_ADMIN_KEY."""

from __future__ import annotations

import hmac
from enum import StrEnum

from services.common.errors import ApiError

API_KEY_HEADER = "X-API-Key"


class Role(StrEnum):
    client = "client"
    admin = "admin"


def _matches(provided: bytes, keys: tuple[str, ...]) -> bool:
    # Compare against every key without short-circuiting, each in constant time, so the
    # response time says nothing about which key (or prefix) was close.
    found = False
    for key in keys:
        found |= hmac.compare_digest(provided, key.encode())
    return found


def authenticate(provided: str | None, client_keys: tuple[str, ...], admin_key: str) -> Role:
    """The caller's role, or 401. The admin key is also accepted for client endpoints."""
    if not provided:
        raise ApiError(401, "unauthorized", "missing API key", API_KEY_HEADER)
    raw = provided.encode()
    if admin_key and _matches(raw, (admin_key,)):
        return Role.admin
    if _matches(raw, client_keys):
        return Role.client
    raise ApiError(401, "unauthorized", "invalid API key", API_KEY_HEADER)


def require_admin(role: Role) -> None:
    if role is not Role.admin:
        raise ApiError(403, "forbidden", "this operation needs the admin key", API_KEY_HEADER)
