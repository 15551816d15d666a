"""``trimmed_columns`` vouches only for columns DuckDB's TRIM leaves unchanged (ingest skips TRIM
for them), over generated text with spaces, Unicode space separators, tabs and non-ASCII."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.readers import trimmed_columns

_CHARS = st.sampled_from(
    ["a", "Z", "7", "-", " ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\u200b", "é", "中"]
)
_VALUES = st.lists(st.one_of(st.none(), st.text(_CHARS, max_size=6)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_a_vouched_column_is_one_trim_leaves_unchanged(values: list[str | None]) -> None:
    table = pa.table({"t_x": pa.array(values, pa.string()), "v_x": pa.array(values, pa.string())})
    vouched = trimmed_columns(table)
    assert "v_x" not in vouched  # only canonical text columns are considered
    con = duckdb.connect()
    con.register("t", table)
    changed = con.execute("SELECT count(*) FROM t WHERE TRIM(t_x) <> t_x").fetchall()[0][0]
    if "t_x" in vouched:
        assert changed == 0
    # The check is exact for ASCII: it vouches for every clean ASCII column.
    if all(v is None or (v.isascii() and v == v.strip(" ")) for v in values):
        assert "t_x" in vouched
