import pytest
from fastapi.exceptions import RequestValidationError

from services.common.contracts import CartRequest
from services.common.errors import ApiError, field_path
from services.gateway.params import (
    batch_user_ids,
    cart_from_query,
    parse_json,
    split_product_ids,
    validate,
)

A, B = "B000000001", "B000000002"


def test_split_product_ids():
    assert split_product_ids(f" {A},{B},,{A} ,") == [A, B]
    assert split_product_ids("") == []


def test_cart_from_query_ok():
    cart = cart_from_query(f"{A},{B}", "u_1", 5)
    assert (cart.product_ids, cart.user_id, cart.k) == ([A, B], "u_1", 5)
    assert cart_from_query(A, None, 10).user_id is None


def _field(exc: RequestValidationError) -> str | None:
    return field_path(exc.errors()[0]["loc"])


@pytest.mark.parametrize(
    ("raw", "entry"),
    [("", None), ("abc", "product_ids[0]"), (f"{A},b000000002", "product_ids[1]")],
)
def test_cart_from_query_invalid(raw, entry):
    # One query parameter: the field is its name, the message names the entry.
    with pytest.raises(RequestValidationError) as info:
        cart_from_query(raw, None, 10)
    assert _field(info.value) == "product_ids"
    if entry:
        assert info.value.errors()[0]["msg"].startswith(entry)


def test_cart_too_many_products():
    raw = ",".join(f"B{i:09d}" for i in range(101))
    with pytest.raises(RequestValidationError) as info:
        cart_from_query(raw, None, 10)
    assert _field(info.value) == "product_ids"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_ids": [A], "k": 0}, "k"),
        ({"product_ids": [A], "k": 101}, "k"),
        ({"product_ids": [A], "k": "abc"}, "k"),
        ({"product_ids": [A], "user_id": "bad id"}, "user_id"),
        ({"product_ids": []}, "product_ids"),
        ({}, "product_ids"),
        ({"product_ids": [A], "extra": 1}, "extra"),
        ([A], None),
    ],
)
def test_cart_body_validation(body, field):
    with pytest.raises(RequestValidationError) as info:
        validate(CartRequest, body, "body")
    assert _field(info.value) == field


@pytest.mark.parametrize("raw", [b"", b"{", b"nope", b'{"a":1,}'])
def test_parse_json_rejects_malformed(raw):
    with pytest.raises(ApiError) as info:
        parse_json(raw)
    assert (info.value.status, info.value.code) == (400, "invalid_json")


def test_batch_user_ids():
    batch = {"events": [{"user_id": "u1"}, {"user_id": "u2"}, {"user_id": "u1"}, {"x": 1}, 3]}
    assert batch_user_ids(batch) == {"u1", "u2"}
    assert batch_user_ids({"user_id": "u3", "event_type": "view"}) == {"u3"}
    assert batch_user_ids({"user_id": "bad id!"}) == set()
    assert batch_user_ids("x") == set()
