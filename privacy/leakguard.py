"""Leak guard: is any raw identifier held in the PII vault present in an output?

Needles are built in memory by decrypting the vault (:meth:`NeedleSet.from_vault`); each needle is
indexed exactly and in a normalised form:

- phone numbers: national digits (``+86 138-1234-5678``, ``8613812345678`` and ``13812345678``
  are the same needle; E.164 numbers without the ``+``);
- resident IDs: upper case (``x`` == ``X``); e-mail, chain addresses, device ids: case-insensitive;
- IP addresses: canonical ``ipaddress`` form; names: case-folded, whitespace collapsed;
- bank cards: digits only.

Scanning tokenises text with one combined regular expression (e-mail, hex/chain addresses, UUIDs,
resident IDs, IPs, digit runs with phone separators, base58/bech32 words) plus CJK runs and word
n-grams for names, normalises each token and looks it up in a hash set, so the cost is linear in the
output size whatever the number of needles. Parquet files and DuckDB tables are scanned column by
column over their DISTINCT values; CSV by header column; JSON/JSONL by key path; HTML tables by
header cell (else ``text``); TXT/MD by line (Markdown tables by header).

Findings name the file (or table), the column and the kind of identifier, and never the value.
"""

from __future__ import annotations

import csv
import html
import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from privacy.classifier import name_signal
from privacy.detectors import normalise_phone
from privacy.keyvault import KeyVault
from privacy.vault import PiiVault

__all__ = ["LeakFinding", "LeakReport", "NeedleSet", "scan_outputs", "scan_paths", "scan_tables"]

SCANNED_SUFFIXES = (
    ".parquet",
    ".csv",
    ".json",
    ".jsonl",
    ".ndjson",
    ".html",
    ".htm",
    ".txt",
    ".md",
)

# Vault field -> needle kind (entity type); fields that are not useful needles are skipped.
_SKIP_KINDS = frozenset({"date_of_birth", "unknown"})

_TOKEN = re.compile(
    r"(?P<email>[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,24})"
    r"|(?P<eth>0[xX][0-9a-fA-F]{40})(?![0-9a-fA-F])"
    r"|(?P<uuid>(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}(?![0-9A-Za-z]))"
    r"|(?P<rid>(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z]))"
    r"|(?P<ipv4>(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.]))"
    r"|(?P<ipv6>(?<![0-9A-Za-z:])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![0-9A-Za-z:]))"
    r"|(?P<digits>\+?\d[\d \-().\u00a0]{5,24}\d)"
    r"|(?P<word>[0-9A-Za-z]{6,90})"
)
_SPLIT_DIGITS = re.compile(r"[ \-().\u00a0]+")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_WORD = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]+)*\.?", re.UNICODE)


def _norm_ip(s: str) -> str | None:
    try:
        return ipaddress.ip_address(s.strip()).compressed.lower()
    except ValueError:
        return None


def _norm_name(s: str) -> str:
    return " ".join(s.casefold().split())


@dataclass
class NeedleSet:
    """Normalised forms of the vault's identifier values, with their kinds (never exposed)."""

    exact: dict[str, str] = field(default_factory=dict)
    normalised: dict[str, str] = field(default_factory=dict)
    cjk_names: dict[str, str] = field(default_factory=dict)
    latin_names: dict[str, str] = field(default_factory=dict)
    max_name_words: int = 1

    def __len__(self) -> int:
        return len(self.exact)

    def add(self, kind: str, value: str) -> None:
        v = value.strip()
        if len(v) < 2 or kind in _SKIP_KINDS:
            return
        if kind == "person_name":
            if _CJK_RUN.fullmatch(v):
                self.cjk_names[v] = kind
            else:
                n = _norm_name(v)
                if len(n) >= 5 and " " in n:
                    self.latin_names[n] = kind
                    self.max_name_words = max(self.max_name_words, len(n.split()))
            self.exact[v] = kind
            return
        if len(v) < 6:
            return
        self.exact[v] = kind
        if kind == "mobile_number":
            p = normalise_phone(v)
            if p:
                self.normalised["tel:" + p] = kind
        elif kind == "bank_card":
            self.normalised["num:" + "".join(ch for ch in v if ch.isdigit())] = kind
        elif kind == "ip_address":
            ip = _norm_ip(v)
            if ip:
                self.normalised["ip:" + ip] = kind
        else:  # resident ids, e-mail, addresses, device ids, account ids: case-insensitive
            self.normalised["ci:" + v.lower()] = kind

    @classmethod
    def from_records(
        cls,
        records: Mapping[str, Mapping[str, Any]],
        *,
        include_subject_ids: bool = True,
    ) -> NeedleSet:
        ns = cls()
        kinds: dict[str, str] = {}
        for sid, rec in records.items():
            if include_subject_ids:
                ns.add("account_id", sid)
            for fname, val in rec.items():
                kind = kinds.get(fname)
                if kind is None:
                    sig = name_signal(fname.rsplit(".", 1)[-1])
                    kind = kinds[fname] = sig[0] if sig else "unknown_field"
                for v in val if isinstance(val, list) else [val]:
                    if v is not None:
                        ns.add(kind, str(v))
        return ns

    @classmethod
    def from_vault(cls, vault: PiiVault, *, include_subject_ids: bool = True) -> NeedleSet:
        return cls.from_records(vault.get_many(), include_subject_ids=include_subject_ids)

    # -- matching -------------------------------------------------------------------------
    def _lookup_norm(self, key: str) -> str | None:
        return self.normalised.get(key)

    def scan_text(self, text: str) -> list[tuple[str, str]]:
        """(kind, 'exact' | 'normalised') for every needle found in ``text``."""
        found: list[tuple[str, str]] = []
        if not text:
            return found
        stripped = text.strip()
        k = self.exact.get(stripped)
        if k is not None:
            return [(k, "exact")]
        for m in _TOKEN.finditer(text):
            group = m.lastgroup
            tok = m.group()
            kind = self.exact.get(tok)
            if kind is not None:
                found.append((kind, "exact"))
                continue
            if group == "digits":
                kind = self._match_digits(tok)
            elif group in ("ipv4", "ipv6"):
                ip = _norm_ip(tok)
                kind = self.normalised.get("ip:" + ip) if ip else None
                if kind is None and group == "ipv6":
                    kind = self._match_digits(tok)
            else:
                kind = self.normalised.get("ci:" + tok.lower())
                if kind is None and group == "rid":
                    kind = self._match_digits(tok)
            if kind is not None:
                found.append((kind, "normalised"))
        if self.cjk_names or self.latin_names:
            found.extend(self._scan_names(text))
        return found

    def _match_digits(self, tok: str) -> str | None:
        groups = [g for g in _SPLIT_DIGITS.split(tok) if g]
        for i in range(len(groups)):
            cand = ""
            for j in range(i, min(i + 6, len(groups))):
                cand += groups[j]
                if len(cand) < 7:
                    continue
                digits = cand.lstrip("+")
                for d in (
                    digits,
                    digits[2:] if digits.startswith("86") else None,
                    digits[4:] if digits.startswith("0086") else None,
                ):
                    if d:
                        kind = self.normalised.get("tel:" + d) or self.normalised.get("num:" + d)
                        if kind is not None:
                            return kind
        return None

    def _scan_names(self, text: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if self.cjk_names:
            for m in _CJK_RUN.finditer(text):
                run = m.group()
                if run in self.cjk_names:
                    found.append(("person_name", "exact"))
                    continue
                hit = False
                for size in (4, 3):
                    for i in range(len(run) - size + 1):
                        if run[i : i + size] in self.cjk_names:
                            found.append(("person_name", "normalised"))
                            hit = True
                            break
                    if hit:
                        break
        if self.latin_names:
            words = [w.casefold() for w in _WORD.findall(text)]
            for i in range(len(words)):
                for n in range(2, self.max_name_words + 1):
                    if i + n > len(words):
                        break
                    if " ".join(words[i : i + n]) in self.latin_names:
                        found.append(("person_name", "normalised"))
        return found


@dataclass(frozen=True)
class LeakFinding:
    location: str
    column: str | None
    kind: str
    form: str
    count: int

    def __str__(self) -> str:
        where = f"{self.location} [{self.column}]" if self.column else self.location
        return (
            f"{where}: {self.count} {self.kind} value(s) held in the PII vault ({self.form} match)"
        )


@dataclass
class LeakReport:
    findings: list[LeakFinding]
    files_scanned: int
    tables_scanned: int
    needles: int
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        head = (
            f"leak guard: {len(self.findings)} finding(s) in {self.files_scanned} file(s) and "
            f"{self.tables_scanned} table(s) against {self.needles} vaulted value(s)"
        )
        return "\n".join([head, *(f"  - {f}" for f in self.findings)])


class _Collector:
    def __init__(self, needles: NeedleSet) -> None:
        self.needles = needles
        self.counts: Counter[tuple[str, str | None, str, str]] = Counter()

    def text(self, location: str, column: str | None, text: str) -> None:
        for kind, form in self.needles.scan_text(text):
            self.counts[(location, column, kind, form)] += 1

    def findings(self) -> list[LeakFinding]:
        return [
            LeakFinding(loc, col, kind, form, n)
            for (loc, col, kind, form), n in sorted(
                self.counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
            )
        ]


def _scan_arrow_column(c: _Collector, location: str, name: str, arr: pa.ChunkedArray) -> None:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    if pa.types.is_floating(t):
        return  # amounts and rates: not identifiers (integers are scanned, phones can be int64)
    if pa.types.is_temporal(t) or pa.types.is_boolean(t):
        return
    if pa.types.is_nested(t):
        values: Iterable[Any] = (
            json.dumps(v, ensure_ascii=False, default=str) for v in arr.to_pylist() if v
        )
    else:
        values = pc.unique(arr).to_pylist()
    for v in values:
        if v is None:
            continue
        c.text(location, name, v.hex() if isinstance(v, bytes) else str(v))


def _scan_parquet(c: _Collector, path: Path, location: str) -> None:
    pf = pq.ParquetFile(path)
    for name in pf.schema_arrow.names:
        col = pf.read(columns=[name]).column(name)
        _scan_arrow_column(c, location, name, col)


def _scan_csv(c: _Collector, path: Path, location: str) -> None:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        c.text(location, "(header)", ",".join(header))
        seen: set[tuple[int, str]] = set()
        for row in reader:
            for i, cell in enumerate(row):
                if not cell or (i, cell) in seen:
                    continue
                seen.add((i, cell))
                c.text(location, header[i] if i < len(header) else f"col{i + 1}", cell)


def _walk_json(c: _Collector, location: str, path: str, obj: Any) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if len(str(k)) >= 6:
                c.text(location, f"{path}.{k} (key)", str(k))
            _walk_json(c, location, f"{path}.{k}", v)
    elif isinstance(obj, list):
        for v in obj:
            _walk_json(c, location, f"{path}[]", v)
    elif isinstance(obj, str | int) and not isinstance(obj, bool):
        c.text(location, path, str(obj))


def _scan_json(c: _Collector, path: Path, location: str, lines: bool) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        docs = (
            [json.loads(ln) for ln in text.splitlines() if ln.strip()]
            if lines
            else [json.loads(text)]
        )
    except json.JSONDecodeError:
        _scan_lines(c, location, text)
        return
    for doc in docs:
        _walk_json(c, location, "$", doc)


class _HtmlScanner(HTMLParser):
    def __init__(self, c: _Collector, location: str) -> None:
        super().__init__(convert_charrefs=True)
        self.c = c
        self.location = location
        self.headers: list[str] = []
        self.cell: list[str] | None = None
        self.cell_tag = ""
        self.col = 0
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.in_script = True
        if tag == "table":
            self.headers = []
        elif tag == "tr":
            self.col = 0
        elif tag in ("td", "th"):
            self.cell, self.cell_tag = [], tag
        for _, v in attrs:
            if v:
                self.c.text(self.location, f"<{tag}> attribute", v)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.in_script = False
        if tag in ("td", "th") and self.cell is not None:
            text = "".join(self.cell)
            if self.cell_tag == "th":
                self.headers.append(text.strip())
                column = "(table header)"
            else:
                column = (
                    self.headers[self.col] if self.col < len(self.headers) else f"col{self.col + 1}"
                )
            self.c.text(self.location, column, text)
            self.col += 1
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        else:
            self.c.text(self.location, "script" if self.in_script else "text", data)


def _scan_html(c: _Collector, path: Path, location: str) -> None:
    p = _HtmlScanner(c, location)
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    p.close()


def _scan_lines(c: _Collector, location: str, text: str, markdown: bool = False) -> None:
    headers: list[str] | None = None
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        if markdown and line.lstrip().startswith("|"):
            cells = [x.strip() for x in line.strip().strip("|").split("|")]
            nxt = lines[n] if n < len(lines) else ""
            if headers is None and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", nxt or "x"):
                headers = cells
                c.text(location, "(table header)", line)
                continue
            if headers is not None and set(line.replace("|", "").strip()) <= set(":- "):
                continue
            if headers is not None:
                for i, cell in enumerate(cells):
                    c.text(location, headers[i] if i < len(headers) else f"col{i + 1}", cell)
                continue
        else:
            headers = None
        c.text(location, f"line {n}", html.unescape(line) if markdown else line)


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p


def scan_paths(root: str | Path, needles: NeedleSet) -> LeakReport:
    """Scan every Parquet/CSV/JSON(L)/HTML/TXT/MD file under ``root`` (other files are listed
    in ``skipped``)."""
    c = _Collector(needles)
    root = Path(root)
    n = 0
    skipped: list[str] = []
    for path in _files(root):
        location = str(path)
        suffix = path.suffix.lower()
        if suffix not in SCANNED_SUFFIXES:
            skipped.append(location)
            continue
        n += 1
        if suffix == ".parquet":
            _scan_parquet(c, path, location)
        elif suffix == ".csv":
            _scan_csv(c, path, location)
        elif suffix in (".json", ".jsonl", ".ndjson"):
            _scan_json(c, path, location, lines=suffix != ".json")
        elif suffix in (".html", ".htm"):
            _scan_html(c, path, location)
        else:
            _scan_lines(
                c, location, path.read_text(encoding="utf-8", errors="replace"), suffix == ".md"
            )
    return LeakReport(c.findings(), n, 0, len(needles), skipped)


def scan_tables(
    con: duckdb.DuckDBPyConnection, tables: Sequence[str], needles: NeedleSet
) -> LeakReport:
    """Scan the DISTINCT values of every column of the given DuckDB tables (``schema.table``)."""
    c = _Collector(needles)
    for table in tables:
        cols = con.execute(f"SELECT * FROM {table} LIMIT 0").description or []
        for col in cols:
            name = col[0]
            q = '"' + name.replace('"', '""') + '"'
            arr = con.sql(f"SELECT DISTINCT {q} FROM {table}").to_arrow_table().column(0)
            _scan_arrow_column(c, table, name, arr)
    return LeakReport(c.findings(), 0, len(tables), len(needles))


def scan_outputs(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    root: str | Path | None = None,
    tables: Sequence[str] = (),
    *,
    include_subject_ids: bool = True,
) -> LeakReport:
    """Decrypt the vault in memory, then scan ``root`` and ``tables``. Blocking use::

    report = scan_outputs(con, kv, out_dir, ["marts.insight_base"])
    if not report.ok: raise RuntimeError(report.summary())
    """
    needles = NeedleSet.from_vault(PiiVault(con, keyvault), include_subject_ids=include_subject_ids)
    findings: list[LeakFinding] = []
    files = 0
    skipped: list[str] = []
    if root is not None and Path(root).exists():
        r = scan_paths(root, needles)
        findings += r.findings
        files = r.files_scanned
        skipped = r.skipped
    if tables:
        findings += scan_tables(con, tables, needles).findings
    return LeakReport(findings, files, len(tables), len(needles), skipped)
