import orjson
import pytest

from services.common.contracts import RankedItem
from services.gateway.fallback import FallbackStore, parse_items, select_fallback


def item(pid: str, position: int, reasons=("trending",)) -> RankedItem:
    return RankedItem(
        product_id=pid,
        name=f"n{pid}",
        main_category="c",
        sub_category="s",
        score=1.0 / position,
        position=position,
        reasons=list(reasons),
        sources=["trending"],
    )


ITEMS = [item(f"B00000000{i}", i) for i in range(1, 8)]


def test_takes_k_and_renumbers():
    chosen = select_fallback(ITEMS, 3, exclude=["B000000001", "B000000003"])
    assert [i.product_id for i in chosen] == ["B000000002", "B000000004", "B000000005"]
    assert [i.position for i in chosen] == [1, 2, 3]
    assert ITEMS[1].position == 2  # the stored list is not modified


def test_fewer_than_k_and_duplicates():
    dup = [*ITEMS[:2], ITEMS[0]]
    assert [i.product_id for i in select_fallback(dup, 10)] == ["B000000001", "B000000002"]
    assert select_fallback([], 5) == []


def test_items_without_reasons_get_one():
    chosen = select_fallback([item("B000000009", 1, reasons=())], 1)
    assert chosen[0].reasons == ["popular"]


def test_parse_items():
    raw = orjson.dumps([i.model_dump() for i in ITEMS[:2]])
    assert [i.product_id for i in parse_items(raw)] == ["B000000001", "B000000002"]
    for bad in (b"{", b'{"a": 1}', b'[{"product_id": "x"}]'):
        with pytest.raises(ValueError):
            parse_items(bad)


class FakeRedis:
    def __init__(self, value):
        self.value = value

    async def get(self, key):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


async def test_store_keeps_last_good_copy():
    redis = FakeRedis(orjson.dumps([i.model_dump() for i in ITEMS]))
    store = FallbackStore(redis, "k")
    assert await store.refresh()
    for broken in (ConnectionError("down"), None, b"garbage", b"[]"):
        redis.value = broken
        assert not await store.refresh()
        assert len(store.items) == len(ITEMS)
    assert [i.position for i in await store.select(2)] == [1, 2]
