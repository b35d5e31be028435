"""`FeatureStore` on Feast's online store (Redis), read directly.

Feast's own read path (`FeatureStore.get_online_features`) resolves feature references
against the registry, builds one HMGET per (feature view, entity), assembles response
protos and converts them again for the caller: correct, but most of a request's time.
Here the layout is resolved once, from the registry, with Feast's own functions:

- the Redis key of an entity is `RedisOnlineStore._generate_redis_keys_for_entities`
  (Feast's `serialize_entity_key` of the entity key proto, then the project name);
- the hash fields of a view are `RedisOnlineStore._generate_hset_keys_for_features`
  (murmur3 of `<view>:<feature>` for each feature, then `_ts:<view>`);
- values are `feast.types.Value` protos, decoded with Feast's generated classes.

Both views of an entity live in the same hash (the key does not name the view), so a
request is ONE pipeline with ONE HMGET per distinct entity asking for the fields of
both views: user_interests + user_activity for users, product_catalog + product_stats
for products. Each entity's HMGET is encoded once (Redis protocol bytes, cached by id)
and a request sends the joined bytes in one write and reads the replies with hiredis;
an item whose stored bytes (values and row timestamps) are unchanged is not decoded
again (memo by id + raw reply). `tests/load/bench_features.py` measures it against
`feast serve`.

Mapping to the contract (`UserFeatures` / `ItemFeatures`, unchanged):

- user: `recent_items`, `recent_queries`, `purchased` (sorted) and `category_affinity`
  (zip of `affinity_categories` / `affinity_weights`, positive shares, largest first)
  come from `user_interests`, which event-ingest pushes after every commit.
  `event_counts` are the 7-day counts by event type of `user_activity` (`view`,
  `click`, `add_to_cart`, `purchase`, `search`; zero counts omitted): the only
  per-type counts the feature view has. They are as of the user's last materialised
  activity day (materialised, not pushed). `last_active` is the later of
  `last_active_ts` and the event time of the user's `user_interests` row (a push
  carries the time of the user's latest event), so it moves in real time too.
  `known` is true when either view has a row for the user.
- item: the `product_catalog` attributes and the `product_stats` `popularity` and
  `trending` (already 0..1 of the max). A product without a `product_catalog` row in
  the online store is `missing`. Float32 features are rounded to 6 decimals so a
  rating of 4.1 reads 4.1, not 4.099999904632324.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from feast.infra.online_stores.redis import RedisOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.timestamp_pb2 import Timestamp
from redis.asyncio import Redis

from services.common.contracts import ItemFeatures, UserFeatures
from services.common.errors import ApiError
from services.feature_serving.store import _REDIS_ERRORS, REDIS_DEGRADED

log = logging.getLogger(__name__)

USER_VIEWS = ("user_interests", "user_activity")
ITEM_VIEWS = ("product_catalog", "product_stats")
USER_JOIN_KEY, PRODUCT_JOIN_KEY = "user_id", "product_id"

# user_activity 7-day counts -> event type (the keys of `event_counts`).
EVENT_COUNT_FEATURES = {
    "views_7d": "view",
    "clicks_7d": "click",
    "add_to_carts_7d": "add_to_cart",
    "purchases_7d": "purchase",
    "searches_7d": "search",
}
CATALOG_FEATURES = (
    "name",
    "main_category",
    "sub_category",
    "image",
    "price",
    "actual_price",
    "discount_ratio",
    "rating",
    "no_of_ratings",
    "in_stock",
)
FLOAT32_DIGITS = 6
_ONE_SECOND = timedelta(seconds=1)
_KEY_CACHE_MAX = 500_000
_ITEM_MEMO_MAX = 200_000


def resp_command(*args: bytes | str) -> bytes:
    """One command in the Redis protocol (RESP2 array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def decode_value(raw: bytes | None) -> Any:
    """A stored feast.types.Value -> plain Python (None when absent or null)."""
    if not raw:
        return None
    value = ValueProto.FromString(raw)
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    got = getattr(value, kind)
    if kind == "float_val":
        return round(got, FLOAT32_DIGITS)
    if kind == "float_list_val":
        return [round(v, FLOAT32_DIGITS) for v in got.val]
    if kind.endswith("_list_val") or kind.endswith("_set_val"):
        return list(got.val)
    return got


def decode_ts(raw: bytes | None) -> datetime | None:
    """The `_ts:<view>` field (a protobuf Timestamp) -> aware datetime; None: no row."""
    if not raw:
        return None
    ts = Timestamp.FromString(raw)
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC)


@dataclass(frozen=True)
class ViewLayout:
    name: str  # the feature view name as stored (versioned when versioning is on)
    features: tuple[str, ...]  # requested features, in `fields` order
    fields: tuple[bytes | str, ...]  # hashed feature fields..., then `_ts:<name>`


class FeastLayout:
    """Where Feast keeps the features of one project, resolved once from the registry."""

    def __init__(self, store: Any) -> None:  # store: feast.FeatureStore
        self.config = store.config
        self.project: str = store.config.project
        self._online = RedisOnlineStore()
        self.views: dict[str, ViewLayout] = {}
        for name in (*USER_VIEWS, *ITEM_VIEWS):
            view = store.get_feature_view(name, allow_registry_cache=True)
            self.views[name] = self._view_layout(view)
        self.user_fields, self.user_slices = self._concat(USER_VIEWS)
        self.item_fields, self.item_slices = self._concat(ITEM_VIEWS)
        # Per entity, the whole HMGET command: ids are stable, so a request only joins
        # cached bytes (packing 200 commands x 15 fields in redis-py costs milliseconds).
        self._user_cmds: dict[str, bytes] = {}
        self._product_cmds: dict[str, bytes] = {}

    def _view_layout(self, view: Any) -> ViewLayout:
        from feast.infra.online_stores.helpers import compute_versioned_name

        versioning = getattr(self.config.registry, "enable_online_feature_view_versioning", False)
        stored_name = compute_versioned_name(view, versioning)
        names, fields = self._online._generate_hset_keys_for_features(
            view, [f.name for f in view.features], fv_name_override=stored_name
        )
        return ViewLayout(stored_name, tuple(names[:-1]), tuple(fields))

    def _concat(self, views: Sequence[str]) -> tuple[list[bytes | str], dict[str, slice]]:
        fields: list[bytes | str] = []
        slices = {}
        for name in views:
            layout = self.views[name]
            slices[name] = slice(len(fields), len(fields) + len(layout.fields))
            fields.extend(layout.fields)
        return fields, slices

    def _entity_key(self, join_key: str, value: str) -> bytes:
        proto = EntityKeyProto(join_keys=[join_key], entity_values=[ValueProto(string_val=value)])
        return self._online._generate_redis_keys_for_entities(self.config, [proto])[0]

    def _cached(self, cache: dict[str, bytes], join_key: str, value: str, fields) -> bytes:
        command = cache.get(value)
        if command is None:
            if len(cache) >= _KEY_CACHE_MAX:
                cache.clear()  # bounded; ids are stable so it refills with the hot ones
            command = cache[value] = resp_command(
                b"HMGET", self._entity_key(join_key, value), *fields
            )
        return command

    def user_command(self, user_id: str) -> bytes:
        """`HMGET <user key> <user_interests + user_activity fields>`, RESP-encoded."""
        return self._cached(self._user_cmds, USER_JOIN_KEY, user_id, self.user_fields)

    def product_command(self, product_id: str) -> bytes:
        """`HMGET <product key> <product_catalog + product_stats fields>`, RESP-encoded."""
        return self._cached(self._product_cmds, PRODUCT_JOIN_KEY, product_id, self.item_fields)

    def split(self, reply: list[bytes | None], slices: dict[str, slice], view: str):
        """One view's part of an HMGET reply -> ({feature: value}, row timestamp)."""
        part = reply[slices[view]]
        layout = self.views[view]
        values = {f: decode_value(raw) for f, raw in zip(layout.features, part, strict=False)}
        return values, decode_ts(part[-1])


def user_from_values(
    user_id: str,
    interests: dict[str, Any],
    interests_ts: datetime | None,
    activity: dict[str, Any],
    activity_ts: datetime | None,
) -> UserFeatures:
    if interests_ts is None and activity_ts is None:
        return UserFeatures(user_id=user_id, known=False)
    categories = interests.get("affinity_categories") or []
    weights = interests.get("affinity_weights") or []
    shares = {c: w for c, w in zip(categories, weights, strict=False) if w and w > 0.0}
    counts = {
        event_type: int(n)
        for feature, event_type in EVENT_COUNT_FEATURES.items()
        if (n := activity.get(feature))
    }
    last_ts = activity.get("last_active_ts")
    last = datetime.fromtimestamp(last_ts, UTC) if last_ts else None
    # last_active_ts is whole seconds (rounded); the row time of user_interests is exact:
    # within that rounding they are the same event, and the exact one is kept.
    if interests_ts is not None and (last is None or interests_ts > last - _ONE_SECOND):
        last = interests_ts
    return UserFeatures(
        user_id=user_id,
        known=True,
        recent_items=interests.get("recent_items") or [],
        recent_queries=interests.get("recent_queries") or [],
        purchased=sorted(interests.get("purchased") or []),
        category_affinity=dict(sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))),
        event_counts=counts,
        last_active=last,
    )


def item_from_values(
    product_id: str, catalog: dict[str, Any], stats: dict[str, Any]
) -> ItemFeatures:
    attrs = {k: v for k in CATALOG_FEATURES if (v := catalog.get(k)) is not None}
    if not attrs.get("image"):  # the batch view stores a missing image as ''
        attrs.pop("image", None)
    attrs.setdefault("name", "")
    attrs.setdefault("main_category", "")
    attrs.setdefault("sub_category", "")
    return ItemFeatures(
        product_id=product_id,
        **attrs,
        popularity=stats.get("popularity") or 0.0,
        trending=stats.get("trending") or 0.0,
    )


class FeastFeatureStore:
    """Reads Feast's Redis online store for one project. `load` (blocking: the registry)
    must have succeeded before reads; until then reads answer 503."""

    def __init__(self, redis: Redis, load_store: Callable[[], Any]) -> None:
        self.redis = redis
        self._load_store = load_store
        self.layout: FeastLayout | None = None
        self.store: Any = None  # feast.FeatureStore
        # Decoded items by their raw stored fields (which include the row timestamps, so a
        # new materialisation or push is a new entry). Never mutated once built.
        self._items: dict[tuple, ItemFeatures] = {}

    async def load(self) -> None:
        """(Re)load the registry and recompute the layout, in a thread (file/SQL I/O)."""

        def _load() -> tuple[Any, FeastLayout]:
            store = self.store or self._load_store()
            store.refresh_registry()
            return store, FeastLayout(store)

        self.store, self.layout = await asyncio.to_thread(_load)

    def registry_status(self) -> str:
        return "ok" if self.layout is not None else "error: feast registry not loaded"

    def _require_layout(self) -> FeastLayout:
        if self.layout is None:
            raise ApiError(503, "unavailable", "feature store registry not loaded")
        return self.layout

    async def _pipeline(self, commands: list[bytes], kind: str) -> list[Any]:
        """Send pre-encoded commands in one write and read every reply: one round trip
        (what redis-py's pipeline does, without re-packing the same commands each time)."""
        pool = self.redis.connection_pool
        try:
            conn = await pool.get_connection()
            try:
                await conn.send_packed_command(b"".join(commands), check_health=False)
                return [await conn.read_response() for _ in commands]
            except BaseException:
                # unread replies may be left on the socket: never reuse the connection
                await conn.disconnect()
                raise
            finally:
                await pool.release(conn)
        except _REDIS_ERRORS as exc:
            REDIS_DEGRADED.labels(kind).inc()
            log.warning(f"{kind} features: redis failed", extra={"error_type": type(exc).__name__})
            raise ApiError(503, "unavailable", "online features unavailable") from None

    async def get_user_features(self, user_ids: Sequence[str]) -> list[UserFeatures]:
        layout = self._require_layout()
        unique = list(dict.fromkeys(user_ids))
        replies = await self._pipeline([layout.user_command(u) for u in unique], "user")
        by_id = {}
        for uid, reply in zip(unique, replies, strict=True):
            interests, interests_ts = layout.split(reply, layout.user_slices, "user_interests")
            activity, activity_ts = layout.split(reply, layout.user_slices, "user_activity")
            by_id[uid] = user_from_values(uid, interests, interests_ts, activity, activity_ts)
        return [by_id[u] for u in user_ids]

    async def get_item_features(
        self, product_ids: Sequence[str]
    ) -> tuple[list[ItemFeatures], list[str]]:
        layout = self._require_layout()
        unique = list(dict.fromkeys(product_ids))
        replies = await self._pipeline([layout.product_command(p) for p in unique], "item")
        memo = self._items
        found: dict[str, ItemFeatures] = {}
        for pid, reply in zip(unique, replies, strict=True):
            # The stored bytes decide the answer: an unchanged row is not decoded again.
            raw = (pid, *reply)
            item = memo.get(raw)
            if item is None:
                catalog, catalog_ts = layout.split(reply, layout.item_slices, "product_catalog")
                if catalog_ts is None:
                    continue
                stats, _ = layout.split(reply, layout.item_slices, "product_stats")
                item = item_from_values(pid, catalog, stats)
                if len(memo) >= _ITEM_MEMO_MAX:
                    memo.clear()
                memo[raw] = item
            found[pid] = item
        items = [found[p] for p in product_ids if p in found]
        missing = [p for p in product_ids if p not in found]
        return items, missing
