"""Import of the Amazon products CSV (DESIGN section 6) into `products`.

Every input row is accounted for: it becomes a product, is merged into an earlier
row with the same product id (the same ASIN listed under another sub-category), or
is rejected with a reason. Field-level repairs (unparseable ratings, text in the
rating count, a missing list price...) are counted by reason too; nothing is
dropped silently. The cleaning functions are pure so they can be unit-tested.

Policy decisions (see docs):
- A listing with a name and an id but no price at all is still a product (Amazon
  shows such listings as "currently unavailable"): it is imported with NULL prices
  and `in_stock = false`, and counted as the repair `price_missing_out_of_stock`.
  Business rules then never recommend it, but its events and similar-item lookups
  still resolve.
- Duplicates keep the first row's attributes; `sub_categories` is the union of the
  sub-categories of all rows, in order of appearance.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg

from services.common.db import connect

EXPECTED_HEADER = [
    "name",
    "main_category",
    "sub_category",
    "image",
    "link",
    "ratings",
    "no_of_ratings",
    "discount_price",
    "actual_price",
]

_ASIN_RE = re.compile(r"/(?:dp|gp/product)/([A-Z0-9]{10})(?=[/?#]|$)")
_PRICE_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_COUNT_RE = re.compile(r"^[0-9]+(?:\.0+)?$")


# --------------------------------------------------------------------------- pure cleaning


def extract_asin(link: str | None) -> str | None:
    """The 10-character ASIN in an Amazon link (`/dp/B0BRKXTSBT/`), or None."""
    if not link:
        return None
    m = _ASIN_RE.search(link.strip())
    return m.group(1) if m else None


def hash_product_id(name: str, main_category: str, sub_category: str) -> str:
    """A stable 10-char id [A-Z2-7] for a product without an ASIN: base32(sha1(name|main|sub))."""
    digest = hashlib.sha1(f"{name}|{main_category}|{sub_category}".encode()).digest()
    return base64.b32encode(digest).decode("ascii")[:10]


def parse_price(raw: str | None) -> float | None:
    """`₹32,999` -> 32999.0; empty or unparseable -> None."""
    if raw is None:
        return None
    text = raw.strip().replace("₹", "").replace("Rs.", "").replace(",", "").strip()
    if not text or not _PRICE_RE.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) and value >= 0 else None


def parse_rating(raw: str | None) -> tuple[float | None, str | None]:
    """(rating in [0, 5] or None, repair reason or None). Empty is missing, not a repair."""
    text = (raw or "").strip()
    if not text:
        return None, None
    try:
        value = float(text)
    except ValueError:
        return None, "rating_not_numeric"
    if not math.isfinite(value) or not 0.0 <= value <= 5.0:
        return None, "rating_out_of_range"
    return value, None


def parse_count(raw: str | None) -> tuple[int | None, str | None]:
    """`1,234` -> 1234, `24.0` -> 24; text such as `FREE Delivery by Amazon` -> None + reason."""
    text = (raw or "").strip().replace(",", "")
    if not text:
        return None, None
    if not _COUNT_RE.match(text):
        return None, "no_of_ratings_not_numeric"
    return int(float(text)), None


def discount_ratio(price: float | None, actual: float | None) -> float | None:
    """1 - price/actual clipped to [0, 1]; None when either is unknown or actual is 0."""
    if price is None or actual is None or actual <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - price / actual))


@dataclass
class CleanRow:
    product_id: str
    name: str
    main_category: str
    sub_category: str
    image: str | None
    link: str | None
    rating: float | None
    no_of_ratings: int | None
    price: float | None
    actual_price: float | None
    discount_ratio: float | None
    in_stock: bool
    sub_categories: list[str] = field(default_factory=list)


def clean_row(row: dict[str, str | None]) -> tuple[CleanRow | None, str | None, list[str]]:
    """(cleaned row or None, reject reason or None, repair reasons)."""
    repairs: list[str] = []
    name = " ".join((row.get("name") or "").split())
    main = (row.get("main_category") or "").strip()
    sub = (row.get("sub_category") or "").strip()
    link = (row.get("link") or "").strip() or None
    if not name:
        return None, "missing_name", repairs
    if not main or not sub:
        return None, "missing_category", repairs

    product_id = extract_asin(link)
    if product_id is None:
        product_id = hash_product_id(name, main, sub)
        repairs.append("asin_missing_hashed_id")

    raw_discount = (row.get("discount_price") or "").strip()
    raw_actual = (row.get("actual_price") or "").strip()
    discount = parse_price(raw_discount)
    actual = parse_price(raw_actual)
    if raw_discount and discount is None:
        repairs.append("discount_price_unparseable")
    if raw_actual and actual is None:
        repairs.append("actual_price_unparseable")

    price = discount if discount is not None else actual
    in_stock = True
    if price is None:
        repairs.append("price_missing_out_of_stock")
        in_stock = False
    ratio = discount_ratio(price, actual)
    if actual is None and price is not None:
        actual = price
        repairs.append("actual_price_missing_used_price")
    if discount is not None and actual is not None and discount > actual:
        repairs.append("discount_above_actual_clipped")

    rating, reason = parse_rating(row.get("ratings"))
    if reason:
        repairs.append(reason)
    count, reason = parse_count(row.get("no_of_ratings"))
    if reason:
        repairs.append(reason)

    image = (row.get("image") or "").strip() or None
    return (
        CleanRow(
            product_id=product_id,
            name=name,
            main_category=main,
            sub_category=sub,
            image=image,
            link=link,
            rating=rating,
            no_of_ratings=count,
            price=price,
            actual_price=actual,
            discount_ratio=ratio,
            in_stock=in_stock,
            sub_categories=[sub],
        ),
        None,
        repairs,
    )


@dataclass
class ImportReport:
    rows_read: int = 0
    products_upserted: int = 0
    merged: int = 0
    rejected: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)
    rejected_rows: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def check(self) -> None:
        total = self.products_upserted + self.merged + self.rejected_total
        assert self.rows_read == total, f"rows do not add up: {self.rows_read} != {total}"

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "products_upserted": self.products_upserted,
            "merged": self.merged,
            "rejected_total": self.rejected_total,
            "rejected": dict(sorted(self.rejected.items())),
            "repaired": dict(sorted(self.repaired.items())),
            "rejected_rows": [{"line": line, "reason": r} for line, r in self.rejected_rows],
        }


def clean_rows(rows: Iterable[dict[str, str | None]]) -> tuple[list[CleanRow], ImportReport]:
    """Clean and deduplicate rows (pure). Products are returned in first-seen order."""
    report = ImportReport()
    products: dict[str, CleanRow] = {}
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        report.rows_read += 1
        clean, reject, repairs = clean_row(row)
        if clean is None:
            report.rejected[reject] += 1
            report.rejected_rows.append((line, reject or "unknown"))
            continue
        first = products.get(clean.product_id)
        if first is not None:
            # same product under another sub-category: keep the first row's attributes
            report.merged += 1
            if clean.sub_category not in first.sub_categories:
                first.sub_categories.append(clean.sub_category)
            continue
        report.repaired.update(repairs)
        products[clean.product_id] = clean
    report.products_upserted = len(products)
    report.check()
    return list(products.values()), report


def read_csv(path: Path) -> list[dict[str, str | None]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in EXPECTED_HEADER if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        return list(reader)


# --------------------------------------------------------------------------- database

# Column order of the products rows both the importer and the synthetic loader write.
PRODUCT_COLUMNS = (
    "product_id",
    "name",
    "main_category",
    "sub_category",
    "sub_categories",
    "image",
    "link",
    "rating",
    "no_of_ratings",
    "price",
    "actual_price",
    "discount_ratio",
    "in_stock",
    "source",
)


async def upsert_products(conn: asyncpg.Connection, records: list[tuple]) -> None:
    """COPY into a temp table, then one INSERT .. ON CONFLICT DO UPDATE (idempotent)."""
    cols = ", ".join(PRODUCT_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in PRODUCT_COLUMNS if c != "product_id")
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE products_stage (LIKE products INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        await conn.copy_records_to_table("products_stage", records=records, columns=PRODUCT_COLUMNS)
        await conn.execute(
            f"INSERT INTO products ({cols}) SELECT {cols} FROM products_stage"
            f" ON CONFLICT (product_id) DO UPDATE SET {updates}, updated_at = now()"
        )


def _decimal(value: float | None) -> Decimal | None:
    # numeric columns take Decimal in asyncpg's binary COPY
    return None if value is None else Decimal(str(round(value, 2)))


def _record(p: CleanRow, source: str) -> tuple:
    return (
        p.product_id,
        p.name,
        p.main_category,
        p.sub_category,
        p.sub_categories,
        p.image,
        p.link,
        p.rating,
        p.no_of_ratings,
        _decimal(p.price),
        _decimal(p.actual_price),
        p.discount_ratio,
        p.in_stock,
        source,
    )


async def import_catalog(
    dsn: str, path: Path, *, progress: Callable[[str], None] | None = None
) -> ImportReport:
    rows = read_csv(Path(path))
    if progress:
        progress(f"read {len(rows)} rows")
    products, report = clean_rows(rows)
    if progress:
        progress(f"cleaned: {len(products)} products")
    conn = await connect(dsn)
    try:
        records = [_record(p, "amazon") for p in products]
        await upsert_products(conn, records)
    finally:
        await conn.close()
    return report
