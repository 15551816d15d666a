"""Importer: a foreign purchase export (renamed columns, YYYYMMDD dates) becomes typed, day-split
landing files that ingest loads or quarantines row by row; bad mappings fail on their line."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.contract import ENTITIES
from ledger.importer import ARROW_TYPES, ImporterError, fill_column, import_sources, parse_times
from ledger.mapping import MappingError, compile_format, load_mapping

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "importer"
CSV_SOURCE = DATA / "online_retail.csv"
JSONL_SOURCE = DATA / "online_retail_more.jsonl"
MAPPING = ROOT / "docs" / "examples" / "online_retail.mapping.yaml"
LONDON = ZoneInfo("Europe/London")
GBP_TO_USDT = 1.56  # the mapping's scale

# Rows of online_retail.csv the importer must reject (1-based data rows), and why.
CSV_REJECTS = {
    184: "occurred_at",  # 20101232 09:00: no such day
    185: "occurred_at",  # 2010-12-05 10:00: not one of the mapping's formats
    186: "amount",  # Quantity "six"
    187: "country",  # Atlantis: not in the value map
}


def _csv_rows() -> list[dict[str, str]]:
    with CSV_SOURCE.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _jsonl_rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in JSONL_SOURCE.read_text().splitlines()]


def _expected_time(text: str) -> datetime:
    """Reference parse of the fixture's InvoiceDate: UK local time to naive UTC."""
    for fmt in ("%Y%m%d %H:%M", "%Y%m%d"):
        try:
            local = datetime.strptime(text, fmt).replace(tzinfo=LONDON)
        except ValueError:
            continue
        return local.astimezone(UTC).replace(tzinfo=None)
    raise ValueError("not a fixture time")


def _expected_id(row: int, *cells: str | None) -> str:
    encoded = ["~" if c is None else f"{len(c)}:{c}" for c in cells]
    return "OR-" + hashlib.sha256("|".join([str(row), *encoded]).encode()).hexdigest()[:20]


def _accepted_csv_rows() -> list[tuple[int, dict[str, str]]]:
    return [(i, r) for i, r in enumerate(_csv_rows(), start=1) if i not in CSV_REJECTS]


def _landing_bytes(landing: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(landing)): p.read_bytes()
        for p in sorted(landing.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def imported(landing: Path):
    report = import_sources(MAPPING, [CSV_SOURCE, JSONL_SOURCE], landing)
    return report, landing


def _transactions(landing: Path) -> pa.Table:
    files = sorted((landing / "transactions").iterdir())
    return pa.concat_tables(pq.read_table(f) for f in files)


def test_renamed_columns_and_yyyymmdd_dates_land_in_the_contract_types(imported) -> None:
    report, landing = imported
    contract = {c.name: c for c in ENTITIES["transactions"].columns}
    for path in (landing / "transactions").iterdir():
        schema = pq.read_schema(path)
        assert {f.name: f.type for f in schema} == {
            f.name: ARROW_TYPES[contract[f.name].dtype] for f in schema
        }
    rows = {r["txn_id"]: r for r in _transactions(landing).to_pylist()}
    assert len(rows) == report.entities["transactions"].rows_written  # repeated lines too
    for number, src in _accepted_csv_rows():
        got = rows[_expected_id(number, src["InvoiceNo"], src["StockCode"], src["InvoiceDate"])]
        assert got["occurred_at"] == _expected_time(src["InvoiceDate"])
        assert got["user_id"] == (f"C{src['CustomerID']}" if src["CustomerID"] else None)
        assert got["amount"] == pytest.approx(
            float(src["Quantity"]) * float(src["UnitPrice"]) * GBP_TO_USDT
        )
        assert (got["tx_type"], got["direction"], got["asset"], got["fee"]) == (
            "merchant_payment",
            "out",
            "USDT",
            0.0,
        )
    # a YYYYMMDD value without a time is local midnight; JSON numbers are dates and ids too
    date_only = [r for r in rows.values() if r["occurred_at"] == datetime(2010, 12, 3)]
    assert len(date_only) == 3
    for number, src in enumerate(_jsonl_rows(), start=1):
        got = rows[
            _expected_id(number, src["InvoiceNo"], src["StockCode"], str(src["InvoiceDate"]))
        ]
        day = datetime.strptime(str(src["InvoiceDate"]), "%Y%m%d")
        assert got["occurred_at"] == day
        assert got["user_id"] == f"C{src['CustomerID']}"
    countries = Counter(r["country"] for r in rows.values())
    assert countries["NO"] > 0 and "Norway" not in countries and False not in countries
    assert report.rows_read == len(_csv_rows()) + len(_jsonl_rows())


def test_every_utc_day_gets_its_own_file_and_summer_times_move_to_the_day_before(
    imported,
) -> None:
    report, landing = imported
    expected = Counter(_expected_time(r["InvoiceDate"]).date() for _, r in _accepted_csv_rows())
    expected.update(
        datetime.strptime(str(r["InvoiceDate"]), "%Y%m%d").date() for r in _jsonl_rows()
    )
    files = sorted((landing / "transactions").iterdir())
    assert [f.name for f in files] == [
        f"{d.isoformat()}.online_retail.parquet" for d in sorted(expected)
    ]
    for f in files:
        day = date.fromisoformat(f.name[:10])
        times = pq.read_table(f).column("occurred_at").to_pylist()
        assert {t.date() for t in times} == {day}
        assert len(times) == expected[day]
    # 00:30 British Summer Time on 1 June 2011 is 23:30 UTC on 31 May
    may31 = pq.read_table(landing / "transactions" / "2011-05-31.online_retail.parquet")
    assert may31.column("occurred_at").to_pylist() == [datetime(2011, 5, 31, 23, 30)]
    tx = report.entities["transactions"]
    assert tx.rows_written + tx.rows_rejected == report.rows_read
    assert tx.rows_written == sum(expected.values())


def test_fixed_rate_price_table_has_one_row_per_asset_per_imported_day(imported) -> None:
    _, landing = imported
    prices = pq.read_table(landing / "prices" / "online_retail.parquet").to_pylist()
    first, last = date(2010, 12, 1), date(2011, 6, 1)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert prices == [
        {"price_id": f"USDT|{d.isoformat()}", "price_date": d, "asset": "USDT", "price_base": 1.0}
        for d in days
    ]


def test_users_are_distinct_customers_with_their_first_purchase_as_signup(imported) -> None:
    report, landing = imported
    first_seen: dict[str, date] = {}
    for i, r in enumerate(_csv_rows(), start=1):
        if r["CustomerID"] and CSV_REJECTS.get(i) != "occurred_at":
            day = _expected_time(r["InvoiceDate"]).date()
            key = f"C{r['CustomerID']}"
            first_seen[key] = min(first_seen.get(key, day), day)
    for r in _jsonl_rows():
        day = datetime.strptime(str(r["InvoiceDate"]), "%Y%m%d").date()
        key = f"C{r['CustomerID']}"
        first_seen[key] = min(first_seen.get(key, day), day)
    users = pq.read_table(landing / "users" / "online_retail.parquet")
    assert users.column_names == ["user_id", "signup_date"]  # nothing personal is invented
    assert users.to_pylist() == [
        {"user_id": k, "signup_date": v} for k, v in sorted(first_seen.items())
    ]
    blank = sum(1 for r in _csv_rows() if not r["CustomerID"])
    assert report.entities["users"].rows_without_key == blank
    merchants = pq.read_table(landing / "merchants" / "online_retail.parquet").to_pylist()
    assert [(m["merchant_id"], m["onboarded_date"]) for m in merchants] == [
        ("M-ONLINE-RETAIL", date(2010, 12, 1))
    ]


def test_rows_that_cannot_be_mapped_are_listed_by_row_without_their_values(imported) -> None:
    report, landing = imported
    rejected = {(r.row, r.column) for r in report.rejects if r.entity == "transactions"}
    assert rejected == set(CSV_REJECTS.items())
    assert {r.source for r in report.rejects} == {str(CSV_SOURCE)}
    # the two bad dates also fail users.signup_date and merchants.onboarded_date; row 186 still
    # makes a user (its date is fine) even though it makes no transaction
    assert {(r.entity, r.row) for r in report.rejects if r.entity != "transactions"} == {
        (e, row) for e in ("users", "merchants") for row in (184, 185)
    }
    assert report.rejects_file == landing / "_rejects" / "online_retail.csv"
    text = report.rejects_file.read_text()
    with report.rejects_file.open(newline="") as fh:
        listed = [(int(r["row"]), r["entity"], r["column"]) for r in csv.DictReader(fh)]
    assert listed == [(r.row, r.entity, r.column) for r in report.rejects]
    for value in ("20101232", "2010-12-05", "six", "Atlantis", "13047"):
        assert value not in text


def test_running_the_same_import_twice_writes_nothing_new(imported) -> None:
    first, landing = imported
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in landing.rglob("*") if p.is_file()}
    second = import_sources(MAPPING, [CSV_SOURCE, JSONL_SOURCE], landing)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in landing.rglob("*") if p.is_file()}
    assert second.files_written == []
    assert sorted(second.files_unchanged) == sorted(first.files_written)
    assert after == before
    assert second.rejects == first.rejects


def test_a_changed_mapping_under_the_same_name_never_overwrites_landed_files(
    imported, tmp_path: Path
) -> None:
    _, landing = imported
    before = _landing_bytes(landing)
    changed = tmp_path / "changed.mapping.yaml"
    changed.write_text(MAPPING.read_text().replace("{const: USDT}", "{const: USDC}"))
    with pytest.raises(ImporterError, match=r"already exist\(s\) with other content") as err:
        import_sources(changed, [CSV_SOURCE], landing)
    assert "transactions/2010-12-01.online_retail.parquet" in str(err.value)
    assert _landing_bytes(landing) == before


def test_files_of_the_generator_or_other_mappings_are_left_alone(landing: Path) -> None:
    generated = landing / "transactions" / "2010-12-01.parquet"
    generated.parent.mkdir(parents=True)
    pq.write_table(pa.table({"txn_id": ["T1"]}), generated)
    original = generated.read_bytes()
    report = import_sources(MAPPING, [CSV_SOURCE], landing)
    assert generated.read_bytes() == original
    assert "transactions/2010-12-01.online_retail.parquet" in report.files_written


def test_a_parquet_copy_of_the_export_lands_byte_identical_files(tmp_path: Path) -> None:
    table = pacsv.read_csv(
        CSV_SOURCE,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in _csv_rows()[0]},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )
    parquet_source = tmp_path / "online_retail.parquet"
    pq.write_table(table, parquet_source)
    from_csv = import_sources(MAPPING, [CSV_SOURCE], tmp_path / "a")
    from_parquet = import_sources(MAPPING, [parquet_source], tmp_path / "b")
    assert from_csv.files_written == from_parquet.files_written
    for relpath in from_csv.files_written:
        assert (tmp_path / "a" / relpath).read_bytes() == (tmp_path / "b" / relpath).read_bytes()


def test_ingest_loads_or_quarantines_every_imported_row(imported, tmp_path: Path) -> None:
    from ledger.ingest import ingest

    report, landing = imported
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        # suite=None: the row rules only; the Great Expectations second opinion costs ~20 s here
        # (on this fixture it blocks nothing and warns only that 2011 is older than 400 days)
        outcome = ingest(con, landing, suite=None)
        by_file = {f.relpath: f for f in outcome.files}
        written = {p for e in report.entities.values() for p in e.files}
        assert set(by_file) == written  # the rejects file is not a landing file
        assert {f.status for f in by_file.values()} == {"loaded"}
        for result in report.entities.values():
            files = [by_file[p] for p in result.files]
            assert sum(f.rows_read for f in files) == result.rows_written
            assert sum(f.rows_loaded + f.rows_quarantined for f in files) == result.rows_written
        quarantined = con.execute(
            "SELECT entity, list_sort(failed_rules), count(*) FROM ledger.quarantine "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    # the cancellation (negative amount) and the three lines without a customer, nothing else
    assert quarantined == [
        ("transactions", ["amount_not_positive"], 1),
        ("transactions", ["missing_user_id"], 3),
    ]


# ---------------------------------------------------------------------------------------------
# Bad mappings: every problem names the mapping file, its line and what to do
# ---------------------------------------------------------------------------------------------

BASE = """\
version: 1
name: shop
timezone: Europe/London
entities:
  transactions:
    columns:
      txn_id: {hash: [InvoiceNo, StockCode], prefix: "S-"}
      occurred_at: {from: InvoiceDate, format: "YYYYMMDD HH:mm"}
      user_id: {from: CustomerID, prefix: C}
      tx_type: {const: merchant_payment}
      direction: {const: out}
      asset: {const: USDT}
      amount: {product: [Quantity, UnitPrice]}
      fee: {const: 0}
      merchant_id: {const: M1}
"""

# case -> (replacements in BASE, message); "#!" (a YAML comment) marks the line the error names.
BAD_MAPPINGS: dict[str, tuple[list[tuple[str, str]], str]] = {
    "unknown column": (
        [("      fee: {const: 0}\n", "      fee: {const: 0}\n      amout: {const: 1}  #!\n")],
        "'amout' is not a transactions column (did you mean 'amount'?)",
    ),
    "month where minutes are meant": (
        [('format: "YYYYMMDD HH:mm"}\n', 'format: "YYYYMMDD HH:MM"}  #!\n')],
        "has the month twice, at 'MM' (position 13) (minutes are mm)",
    ),
    "unknown format token": (
        [('format: "YYYYMMDD HH:mm"}\n', 'format: "YYYYQQDD"}  #!\n')],
        "unknown token 'Q' at position 5",
    ),
    "duplicate target": (
        [("      fee: {const: 0}\n", "      fee: {const: 0}\n      amount: {const: 2}  #!\n")],
        "'amount' is given twice (first on line 13); keep one",
    ),
    "required column not mapped": (
        [("      fee: {const: 0}\n", ""), ("    columns:\n", "    columns:  #!\n")],
        "the contract requires fee for transactions; map a source column",
    ),
    "Norway read as false": (
        [
            (
                "      merchant_id: {const: M1}\n",
                "      merchant_id: {const: M1}\n"
                "      country: {from: Country, map: {Norway: NO}}  #!\n",
            )
        ],
        "country takes text; YAML read NO as bool: quote it ('NO') if you meant text",
    ),
    "asset outside the contract": (
        [("{const: USDT}\n", "{const: USDX}  #!\n")],
        "asset must be one of USDT, USDC",
    ),
    "misspelt key": (
        [("{from: CustomerID, prefix: C}\n", "{fromm: CustomerID, prefix: C}  #!\n")],
        "unknown key 'fromm' (did you mean 'from'?)",
    ),
    "two sources for one column": (
        [("{const: out}\n", "{const: out, from: Direction}  #!\n")],
        "give exactly one of from, const, product or hash (found: from, const)",
    ),
    "direction the rules refuse": (
        [("{const: out}\n", "{const: in}  #!\n")],
        "a merchant_payment is 'out' seen from the user's account",
    ),
    "personal column in a hash id": (
        [('StockCode], prefix: "S-"}\n', 'CustomerID], prefix: "S-"}  #!\n')],
        "'CustomerID' also fills a personal column",
    ),
    "unknown entity": (
        [("entities:\n", "entities:\n  customers: {columns: {a: b}}  #!\n")],
        "unknown entity 'customers'; landing entities are users",
    ),
    "aggregate outside a distinct entity": (
        [("{const: M1}\n", "{const: M1, aggregate: min}  #!\n")],
        "aggregate only applies to a distinct entity; remove it (transactions are one row",
    ),
    "a name that is not a plain tag": (
        [("name: shop\n", "name: ../shop  #!\n")],
        "name tags the landing files this mapping writes: use 1-64 lower-case letters",
    ),
    "YAML syntax": (
        [("      fee: {const: 0}\n", "      fee: {const: 0\n")],
        "not valid YAML",
    ),
}


@pytest.mark.parametrize("case", list(BAD_MAPPINGS))
def test_a_bad_mapping_fails_on_its_line_saying_what_to_do(case: str, tmp_path: Path) -> None:
    replacements, message = BAD_MAPPINGS[case]
    text = BASE
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "shop.mapping.yaml"
    path.write_text(text)
    marked = [i for i, line in enumerate(text.splitlines(), start=1) if line.endswith("#!")]
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    lines = str(err.value).splitlines()
    prefix = f"{path}:{marked[0]}:" if marked else f"{path}:"
    assert any(p.startswith(prefix) and message in p for p in lines), str(err.value)


def test_all_problems_of_a_mapping_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "many.mapping.yaml"
    # structure first: a bad format and a misspelt key, both reported
    path.write_text(
        BASE.replace("HH:mm", "HH:MM").replace("{from: CustomerID", "{fromm: CustomerID")
    )
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert [p.line for p in err.value.problems] == [8, 9]
    # then the contract: a bad constant and an unknown column, both reported
    path.write_text(BASE.replace("{const: USDT}", "{const: USDX}") + "      amout: {const: 1}\n")
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    assert [p.line for p in err.value.problems] == [12, 16]


def test_a_source_column_the_export_lacks_fails_on_the_mapping_line(
    tmp_path: Path, landing: Path
) -> None:
    path = tmp_path / "typo.mapping.yaml"
    text = MAPPING.read_text()
    path.write_text(text.replace("from: CustomerID, prefix", "from: CustomerNo, prefix", 1))
    line = next(
        i for i, row in enumerate(text.splitlines(), start=1) if "from: CustomerID, prefix" in row
    )
    with pytest.raises(MappingError) as err:
        import_sources(path, [CSV_SOURCE], landing)
    assert re.search(
        rf"^{re.escape(str(path))}:{line}:\d+: entities\.transactions\.columns\.user_id: "
        r"source column 'CustomerNo' is not in online_retail\.csv \(did you mean 'CustomerID'\?\)",
        str(err.value),
        re.M,
    )
    assert not landing.exists()


def test_a_broken_source_is_refused_without_echoing_its_rows(tmp_path: Path, landing: Path) -> None:
    broken = tmp_path / "broken.csv"
    lines = CSV_SOURCE.read_text().splitlines()
    lines.insert(3, lines[3] + ",SECRET-NAME-42")
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImporterError) as err:
        import_sources(MAPPING, [broken], landing)
    assert "broken.csv" in str(err.value) and "9 fields where the header has 8" in str(err.value)
    assert "SECRET" not in str(err.value)
    assert not landing.exists()


# ---------------------------------------------------------------------------------------------
# Time formats against a strict reference parser
# ---------------------------------------------------------------------------------------------

FORMATS = ["YYYYMMDD", "YYYYMMDD HH:mm", "D/M/YYYY H:mm", "YYYY-MM-DDTHH:mm:ss", "%d.%m.%y"]


def _reference(value: str, fmt: str) -> datetime | None:
    compiled = compile_format(fmt)
    stripped = value.strip()
    if not re.fullmatch(compiled.regex.replace("(?P<", "(?P<").strip("^$"), stripped):
        return None
    try:
        return datetime.strptime(stripped, compiled.strptime)
    except ValueError:
        return None


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    value=st.one_of(
        st.text(alphabet="0123456789 :-./T", max_size=20),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(str),
        st.builds(
            lambda d, f: d.strftime(compile_format(f).strptime),
            st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2068, 12, 31)),
            st.sampled_from(FORMATS),
        ),
    ),
)
def test_time_formats_agree_with_a_strict_reference_parser(fmt: str, value: str) -> None:
    parsed, bad = parse_times(
        pa.array([value], pa.string()), [compile_format(fmt)], "UTC", "TIMESTAMP"
    )
    expected = _reference(value, fmt)
    assert parsed.to_pylist() == [expected]
    assert bad.to_pylist() == [expected is None and bool(value.strip())]


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["version: 1", "name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.mapping.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MappingError, match="expands to over 100,000 values"):
        load_mapping(path)


HASH_MAPPING = BASE.replace("[InvoiceNo, StockCode]", "[a, b]")
CELL = st.one_of(st.none(), st.text(alphabet="ab|:~1 ", max_size=4))


def _normalised(cell: str | None) -> str | None:
    return cell.strip() or None if cell is not None else None


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(CELL, CELL, CELL, CELL), min_size=1, max_size=8))
def test_hash_ids_are_equal_exactly_when_row_and_trimmed_cells_are(
    pairs: list[tuple[str | None, ...]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.getbasetemp() / "hash.mapping.yaml"
    if not path.exists():
        path.write_text(HASH_MAPPING)
    plan = load_mapping(path).entity("transactions").column("txn_id")
    left = pa.table({"a": [p[0] for p in pairs], "b": [p[1] for p in pairs]})
    right = pa.table({"a": [p[2] for p in pairs], "b": [p[3] for p in pairs]})
    ids_left, ids_right = fill_column(plan, left)[0], fill_column(plan, right)[0]
    for i, (a, b, c, d) in enumerate(pairs):
        same = (_normalised(a), _normalised(b)) == (_normalised(c), _normalised(d))
        assert (ids_left[i].as_py() == ids_right[i].as_py()) is same
    assert len(set(ids_left.to_pylist())) == len(pairs)  # the row number keeps equal lines apart


def test_whole_floats_from_a_typed_source_lose_their_decimal_point() -> None:
    plan = load_mapping(MAPPING).entity("users").column("user_id")
    ids, _ = fill_column(
        plan, pa.table({"CustomerID": pa.array([17850.0, None, 1.5, float("nan")])})
    )
    assert ids.to_pylist() == ["C17850", None, "C1.5", None]


def test_a_nested_source_column_is_refused_naming_file_and_column(
    tmp_path: Path, landing: Path
) -> None:
    table = pacsv.read_csv(CSV_SOURCE)
    nested = table.set_column(
        table.schema.get_field_index("Country"),
        "Country",
        pa.array([[c] for c in table.column("Country").to_pylist()]),
    )
    source = tmp_path / "nested.parquet"
    pq.write_table(nested, source)
    with pytest.raises(
        ImporterError,
        match=r"nested\.parquet: the column Country feeding "
        r"transactions\.country has the type list<",
    ):
        import_sources(MAPPING, [source], landing)
    assert not landing.exists()
