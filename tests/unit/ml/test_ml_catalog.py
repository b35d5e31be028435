import pytest

from ml.catalog import (
    clean_row,
    clean_rows,
    discount_ratio,
    extract_asin,
    hash_product_id,
    parse_count,
    parse_price,
    parse_rating,
)


def row(**kw):
    base = {
        "name": "Boat Airdopes 141 Earbuds",
        "main_category": "tv, audio & cameras",
        "sub_category": "Headphones",
        "image": "https://m.media-amazon.com/images/I/x.jpg",
        "link": "https://www.amazon.in/boAt-Airdopes/dp/B09N3ZNHTY/ref=sr_1_1?qid=1",
        "ratings": "4.1",
        "no_of_ratings": "1,234",
        "discount_price": "₹1,099",
        "actual_price": "₹4,490",
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("₹32,999", 32999.0),
        ("₹99", 99.0),
        ("₹1,099.50", 1099.5),
        (" 450 ", 450.0),
        ("", None),
        (None, None),
        ("₹", None),
        ("free", None),
        ("-5", None),
    ],
)
def test_parse_price(raw, expected):
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4.2", (4.2, None)),
        ("5", (5.0, None)),
        ("", (None, None)),
        ("Get", (None, "rating_not_numeric")),
        ("FREE", (None, "rating_not_numeric")),
        ("7.5", (None, "rating_out_of_range")),
    ],
)
def test_parse_rating(raw, expected):
    assert parse_rating(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234", (1234, None)),
        ("69", (69, None)),
        ("24.0", (24, None)),
        ("", (None, None)),
        ("FREE Delivery by Amazon", (None, "no_of_ratings_not_numeric")),
        ("Only 2 left in stock.", (None, "no_of_ratings_not_numeric")),
    ],
)
def test_parse_count(raw, expected):
    assert parse_count(raw) == expected


def test_extract_asin():
    assert extract_asin("https://www.amazon.in/x/dp/B0BRKXTSBT/ref=sr_1_4?q=1") == "B0BRKXTSBT"
    assert extract_asin("https://www.amazon.in/dp/B0BRKXTSBT") == "B0BRKXTSBT"
    assert extract_asin("https://www.amazon.in/gp/product/B0BRKXTSBT?x=1") == "B0BRKXTSBT"
    assert extract_asin("https://www.amazon.in/dp/b0brkxtsbt/") is None
    assert extract_asin("https://www.amazon.in/dp/B0BRKXTSBT12/") is None
    assert extract_asin("") is None and extract_asin(None) is None


def test_hash_product_id_is_stable_and_valid():
    a = hash_product_id("Kettle", "appliances", "Kitchen")
    assert a == hash_product_id("Kettle", "appliances", "Kitchen")
    assert a != hash_product_id("Kettle", "appliances", "Other")
    assert len(a) == 10 and a.isupper() and a.isalnum()


def test_discount_ratio():
    assert discount_ratio(75.0, 100.0) == pytest.approx(0.25)
    assert discount_ratio(100.0, 100.0) == 0.0
    assert discount_ratio(120.0, 100.0) == 0.0  # clipped
    assert discount_ratio(0.0, 100.0) == 1.0
    assert discount_ratio(None, 100.0) is None
    assert discount_ratio(10.0, None) is None
    assert discount_ratio(10.0, 0.0) is None


def test_clean_row_full():
    clean, reject, repairs = clean_row(row())
    assert reject is None and repairs == []
    assert clean.product_id == "B09N3ZNHTY"
    assert clean.price == 1099.0 and clean.actual_price == 4490.0
    assert clean.discount_ratio == pytest.approx(1 - 1099 / 4490)
    assert clean.rating == 4.1 and clean.no_of_ratings == 1234 and clean.in_stock


def test_clean_row_repairs():
    clean, reject, repairs = clean_row(
        row(ratings="Get", no_of_ratings="FREE Delivery by Amazon", actual_price="", link="x")
    )
    assert reject is None
    assert clean.rating is None and clean.no_of_ratings is None
    assert clean.price == 1099.0 and clean.actual_price == 1099.0
    assert clean.discount_ratio is None  # list price unknown
    assert clean.product_id == hash_product_id(clean.name, clean.main_category, clean.sub_category)
    assert set(repairs) == {
        "rating_not_numeric",
        "no_of_ratings_not_numeric",
        "actual_price_missing_used_price",
        "asin_missing_hashed_id",
    }


def test_clean_row_without_discount_and_without_price():
    clean, _, repairs = clean_row(row(discount_price=""))
    assert clean.price == clean.actual_price == 4490.0 and clean.discount_ratio == 0.0
    assert repairs == []
    clean, _, repairs = clean_row(row(discount_price="", actual_price=""))
    assert clean.price is None and clean.in_stock is False
    assert repairs == ["price_missing_out_of_stock"]


def test_clean_row_rejects():
    assert clean_row(row(name="  "))[1] == "missing_name"
    assert clean_row(row(sub_category=""))[1] == "missing_category"


def test_clean_rows_merges_and_accounts_for_every_row():
    rows = [
        row(),
        row(sub_category="Earbuds", ratings="3.0"),  # same ASIN, other sub-category
        row(sub_category="Headphones"),  # same ASIN, same sub-category
        row(name=""),
        row(link="https://www.amazon.in/dp/B000000001/", ratings="Get"),
    ]
    products, report = clean_rows(rows)
    assert [p.product_id for p in products] == ["B09N3ZNHTY", "B000000001"]
    first = products[0]
    assert first.sub_categories == ["Headphones", "Earbuds"] and first.rating == 4.1
    assert report.rows_read == 5 and report.merged == 2 and report.products_upserted == 2
    assert report.rejected == {"missing_name": 1} and report.rejected_rows == [(5, "missing_name")]
    assert report.repaired == {"rating_not_numeric": 1}
    report.check()
