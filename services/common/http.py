"""One pooled async HTTP client for service-to-service calls.

Every call has a timeout, carries the request id (and experiment headers), and
fails in one of two ways: `DownstreamError` when the other side is unreachable,
slow or broken (the caller degrades), or `DownstreamRejected` when it answered
4xx (the caller's input was wrong; pass it on).
"""

from __future__ import annotations

from typing import TypeVar

import httpx
import orjson
from pydantic import BaseModel

from services.common.logs import request_id_var

T = TypeVar("T", bound=BaseModel)

FORWARDED_HEADERS = ("x-user-bucket", "x-experiment", "x-variant")


class DownstreamError(Exception):
    """Timeout, connection failure or 5xx from a downstream service."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service, self.reason = service, reason


class DownstreamRejected(Exception):
    """The downstream service answered 4xx; `body` is its uniform error body."""

    def __init__(self, service: str, status: int, body: dict) -> None:
        super().__init__(f"{service}: {status}")
        self.service, self.status, self.body = service, status, body


class ServiceClient:
    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        timeout: float = 1.0,
        max_connections: int = 100,
    ) -> None:
        self.service = service
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: BaseModel | dict | None = None,
        content: bytes | None = None,
        params: dict | None = None,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; return the response for 2xx, raise otherwise."""
        sent_headers = {"content-type": "application/json"}
        request_id = request_id_var.get()
        if request_id:
            sent_headers["x-request-id"] = request_id
        if headers:
            sent_headers.update(headers)
        if isinstance(json, BaseModel):
            content = json.model_dump_json(exclude_none=True).encode()
        elif json is not None:
            content = orjson.dumps(json)
        try:
            response = await self._client.request(
                method,
                path,
                content=content,
                params=params,
                headers=sent_headers,
                timeout=timeout or self.timeout,
            )
        except httpx.TimeoutException as exc:
            raise DownstreamError(self.service, "timeout") from exc
        except httpx.HTTPError as exc:
            raise DownstreamError(self.service, "unavailable") from exc
        if response.status_code >= 500:
            raise DownstreamError(self.service, f"http_{response.status_code}")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": {"code": "error", "message": response.text[:200], "field": None}}
            raise DownstreamRejected(self.service, response.status_code, body)
        return response

    async def call(
        self,
        method: str,
        path: str,
        response_model: type[T],
        **kwargs,
    ) -> T:
        response = await self.request(method, path, **kwargs)
        try:
            return response_model.model_validate_json(response.content)
        except ValueError as exc:
            raise DownstreamError(self.service, "bad_response") from exc
