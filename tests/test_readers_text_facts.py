"""``text_facts`` vouches only for what holds (ingest skips TRIM and the invisible-character
rules on its word), over generated text with spaces, Unicode space separators, control and
zero-width characters and non-ASCII letters."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.readers import text_facts
from ledger.rules import INVISIBLE_CHARACTERS

_CHARS = st.sampled_from(
    ["a", "Z", "7", "-", "~", " ", "\t", "\n", "\x00", "\x7f", "\u00a0", "\u2003", "\u3000",
     "\u200b", "\ufeff", "é", "中"]
)  # fmt: skip
_VALUES = st.lists(st.one_of(st.none(), st.text(_CHARS, max_size=6)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_what_text_facts_vouch_for_holds_in_duckdb(values: list[str | None]) -> None:
    table = pa.table({"t_x": pa.array(values, pa.string()), "v_x": pa.array(values, pa.string())})
    facts = text_facts(table)
    # Only canonical text columns are considered.
    assert "v_x" not in facts.trimmed | facts.printable
    con = duckdb.connect()
    con.register("t", table)
    changed, invisible = con.execute(
        f"SELECT count(*) FILTER (WHERE TRIM(t_x) <> t_x), "
        f"count(*) FILTER (WHERE regexp_matches(TRIM(t_x), '{INVISIBLE_CHARACTERS}')) FROM t"
    ).fetchall()[0]
    if "t_x" in facts.trimmed:
        assert changed == 0
    if "t_x" in facts.printable:
        assert invisible == 0
    # Both are exact for ASCII: every clean ASCII column is vouched for.
    ascii_values = [v for v in values if v is not None]
    if all(v.isascii() and v == v.strip(" ") for v in ascii_values):
        assert "t_x" in facts.trimmed
    if all(v.isascii() and v.isprintable() for v in ascii_values):
        assert "t_x" in facts.printable
