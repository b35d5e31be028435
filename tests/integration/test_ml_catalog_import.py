"""Import of the real Amazon CSV (../shared/data) into a test database."""

import json

import asyncpg
import pytest
from typer.testing import CliRunner

from ml.catalog import import_catalog
from ml.cli import app


async def test_import_accounts_for_every_row_and_is_idempotent(pg_url, amazon_csv):
    report = await import_catalog(pg_url, amazon_csv)
    assert report.rows_read == 10_930
    assert report.products_upserted == 9_898
    assert report.products_upserted + report.merged + report.rejected_total == 10_930
    assert report.repaired["rating_not_numeric"] == 33
    assert report.repaired["no_of_ratings_not_numeric"] == 33

    conn = await asyncpg.connect(pg_url)
    try:
        count = "SELECT count(*) FROM products WHERE source = 'amazon'"
        assert await conn.fetchval(count) == 9_898
        again = await import_catalog(pg_url, amazon_csv)
        assert again.as_dict() == report.as_dict()
        assert await conn.fetchval(count) == 9_898

        p = await conn.fetchrow("SELECT * FROM products WHERE product_id = 'B0BRKXTSBT'")
        assert p["name"].startswith("Lloyd 1.5 Ton 3 Star Inverter Split Ac")
        assert (p["main_category"], p["sub_category"]) == ("appliances", "Air Conditioners")
        assert p["sub_categories"][0] == "Air Conditioners"
        assert {"All Appliances", "All Home & Kitchen", "Heating & Cooling Appliances"} <= set(
            p["sub_categories"]
        )
        assert float(p["price"]) == 32999.0 and float(p["actual_price"]) == 58990.0
        assert p["discount_ratio"] == pytest.approx(1 - 32999 / 58990, abs=1e-6)
        assert p["rating"] == pytest.approx(4.2) and p["no_of_ratings"] == 2255
        assert p["in_stock"] and p["source"] == "amazon"

        # a listing without any price: kept, but never sellable
        unpriced = await conn.fetchval(
            "SELECT count(*) FROM products WHERE source = 'amazon' AND price IS NULL"
        )
        assert unpriced == report.repaired["price_missing_out_of_stock"] > 0
        assert not await conn.fetchval(
            "SELECT bool_or(in_stock) FROM products WHERE source = 'amazon' AND price IS NULL"
        )
        # text in ratings / counts became NULL, not garbage
        assert await conn.fetchval("SELECT max(rating) FROM products") <= 5
    finally:
        await conn.close()


def test_cli_import_writes_report(pg_url, amazon_csv, tmp_path):
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["import-catalog", str(amazon_csv), "--report", str(out), "--database-url", pg_url]
    )
    assert result.exit_code == 0, result.output
    assert "products upserted" in result.output and "9,898" in result.output
    report = json.loads(out.read_text())
    assert report["rows_read"] == 10_930 and report["merged"] == 10_930 - 9_898
