"""Leak guard: does any personal value, or anything that validates as an identifier, appear in
what is about to be released?

Two sources of truth, both applied to every value:

- **needles**: every personal value ingested (decrypted from the PII vault in memory, plus any
  extra values the caller passes, e.g. quarantined raw records), each indexed in normalised forms
  (:class:`NeedleSet`) and searched for *inside* every cell, not only as whole cells;
- **detectors**: shape plus checksum (:func:`privacy.detectors.find_identifiers`) for resident
  IDs, bank cards, phone numbers and chain addresses that are in no vault at all.

Normalisation (the same for needles and text): Unicode NFKC (fullwidth digits and letters become
ASCII), zero-width and soft-hyphen characters removed, case folded where case carries no meaning
(everything but Base58). Per family:

- digits (phones, cards, resident IDs, IMEIs): groups joined across separators people type
  (space, ``-``, ``.``, ``()``, ``/``, ``_``, ``+``), every run of consecutive groups looked up,
  with and without a ``86``/``0086`` country code; needles of 10+ digits (phones, cards, resident
  IDs) also anywhere inside a longer digit run or identifier (``ORD20<phone>``, ``M+86<phone>x``,
  a digest-shaped id), where a chance match of one window is about N * 1e-10 for N needles;
- hex (``0x`` addresses with or without ``0x``, UUID and hex device ids): hex runs with separators
  removed, every window of each needle length;
- Base58 (TRON, BTC legacy; case-sensitive) and other alphanumerics (account ids, bech32): every
  window, anchored on the needles' prefixes;
- e-mail (also as the tail of a longer local part), IP addresses in canonical form (leading zeros,
  ``::ffff:`` mapped IPv4), CJK names as every 2-4 character window of a CJK run, Latin names as
  word n-grams.

Every file is read, whatever its name: Parquet, CSV/TSV, JSON/JSONL, HTML, and anything else as
UTF-8 text by line; ``.gz``, ``.zip`` and ``.tar`` are opened (by content, not by name) and their
members scanned. A file that cannot be read (binary, undecodable, corrupt, too large) is reported as
unreadable, which fails the check like a finding.

Columns are scanned over their DISTINCT values where that is cheaper (Parquet dictionary pages,
repetitive columns; near-unique ids are scanned as they are), numbers as the digits they hold
(integral values of 6+ digits, formatted once per distinct value), with a vectorised byte
pre-filter (numpy, :class:`_Shapes`) so that only cells that could hold an identifier reach
Python, and digest-shaped cells probed in numpy (:class:`_Probe`). The pre-filter is a superset
of the per-cell scan: :meth:`NeedleSet.scan_array` reports exactly what :meth:`NeedleSet.scan_text`
reports for each cell (the tests check this on hostile inputs). Detectors for values in no vault
keep digit boundaries (an order number that contains a phone-shaped run is not a phone).

Findings name the file (or table), the column (JSON path, HTML column, or line numbers) and the
kind of identifier, and never the value.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import ipaddress
import json
import lzma
import re
import tarfile
import unicodedata
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from privacy.classifier import name_signal
from privacy.detectors import DETECTORS, digits_only, find_identifiers, normalise_phone
from privacy.keyvault import KeyVault
from privacy.vault import PiiVault

__all__ = [
    "CONTACT_FOLDERS",
    "LeakFinding",
    "LeakReport",
    "NeedleSet",
    "Unreadable",
    "canonical_ip",
    "contact_allowlist",
    "normalise_text",
    "scan_outputs",
    "scan_paths",
    "scan_release",
    "scan_tables",
]

# Decompressed members larger than this are refused (reported unreadable), not scanned.
MAX_MEMBER_BYTES = 2 << 30
_SKIP_KINDS = frozenset({"date_of_birth", "unknown"})
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"))
_B58 = "1-9A-HJ-NP-Za-km-z"

_DIGIT_SEQ = re.compile(r"\d+x?(?:[\s\-.()/_+]{1,3}\d+x?)*")
_DIGIT_GROUP = re.compile(r"\d+x?")
_HEX_SEQ = re.compile(r"[0-9a-f](?:[\s\-:.]?[0-9a-f])*")
_HEX_SEPS = re.compile(r"[\s\-:.]")
_B58_RUN = re.compile(rf"[{_B58}]{{20,}}")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_EMAIL = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9.\-]+")
_EMAIL_FULL = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_IPV6 = re.compile(
    r"(?<![0-9a-f:.])((?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}))"
    r"(?![0-9a-f:])"
)
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_WORD = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]+)*\.?", re.UNICODE)
_HEX_FULL = re.compile(r"[0-9a-f]+")
_B58_FULL = re.compile(rf"[{_B58}]+")

# Runs a detector needs before it can fire: phones/cards/resident ids, 0x/EIP-55, TRON/BTC.
_DETECT_DIGITS, _DETECT_HEX, _DETECT_B58 = 10, 40, 25
# Vaulted digit needles this long are found inside any longer digit run (``ORD20<phone>``): a
# chance match of one window against N needles has probability N * 10**-10. Shorter ones (7-9
# digits) are looked up only as whole digit groups, where order numbers would match too often.
_LONG_DIGITS = 10
# Digest-shaped cells are probed for hex and long digit needles by the first 8 bytes of each
# window, hashed into a bitmap of 2**_PROBE_BITS bits (false-probe rate needles / 2**26); the
# few probes that hit are confirmed exactly.
_PROBE_BITS = 26
_PROBE_MULT = np.uint64(0x9E3779B97F4A7C15)
_PROBE_CHUNK = 1 << 22


def normalise_text(s: str) -> str:
    """NFKC, without zero-width / soft-hyphen characters (what a reader sees, as ASCII where
    Unicode has a compatibility form)."""
    if s.isascii():
        return s
    return unicodedata.normalize("NFKC", s).translate(_INVISIBLE)


def canonical_ip(s: str) -> str | None:
    """Canonical text of an IP address: IPv4 octets without leading zeros, IPv4-mapped IPv6 as
    the IPv4 address, other IPv6 compressed lower case. None when ``s`` is not an address."""
    t = s.strip().lower()
    if "." in t:
        head, _, v4 = t.rpartition(":")
        parts = v4.split(".")
        if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
            return None
        if any(int(p) > 255 for p in parts):
            return None
        v4 = ".".join(str(int(p)) for p in parts)
        t = f"{head}:{v4}" if head or t.startswith(":") else v4
    try:
        ip = ipaddress.ip_address(t)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed


def _norm_name(s: str) -> str:
    return " ".join(s.casefold().split())


def _infer_kind(value: str) -> str:
    """Entity type of an untyped personal value (first detector that matches)."""
    for d in DETECTORS:
        if d.entity not in ("tx_hash", "gender") and d.match(value):
            return d.entity
    return "personal_value"


@dataclass
class NeedleSet:
    """Normalised forms of personal values with their kinds (never exposed)."""

    exact: dict[str, str] = field(default_factory=dict)
    digits: dict[str, str] = field(default_factory=dict)
    hexes: dict[str, str] = field(default_factory=dict)
    base58: dict[str, str] = field(default_factory=dict)
    alnum: dict[str, str] = field(default_factory=dict)
    emails: dict[str, dict[str, str]] = field(default_factory=dict)
    ips: dict[str, str] = field(default_factory=dict)
    cjk_names: dict[str, str] = field(default_factory=dict)
    latin_names: dict[str, str] = field(default_factory=dict)
    max_name_words: int = 1
    _compiled: _Compiled | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.exact)

    # -- building ---------------------------------------------------------------------------
    def add(self, kind: str, value: str) -> None:
        """Index one personal value of entity type ``kind`` in every form it can be found in."""
        v = normalise_text(str(value)).strip()
        if len(v) < 2 or kind in _SKIP_KINDS:
            return
        self._compiled = None
        low = v.lower()
        if kind == "person_name":
            if _CJK_RUN.fullmatch(v):
                if len(v) <= 4:
                    self.cjk_names[v] = kind
            else:
                n = _norm_name(v)
                if len(n) >= 5 and " " in n:
                    self.latin_names[n] = kind
                    self.max_name_words = max(self.max_name_words, len(n.split()))
            self.exact[low] = kind
            return
        if len(v) < 6:
            return
        self.exact[low] = kind
        if kind == "email" or _EMAIL_FULL.fullmatch(low):
            local, _, domain = low.rpartition("@")
            self.emails.setdefault(domain, {})[local] = kind
            return
        ip = canonical_ip(v) if kind == "ip_address" or ":" in v or v.count(".") == 3 else None
        if ip is not None:
            self.ips[ip] = kind
            return
        if kind == "mobile_number":
            p = normalise_phone(v)
            d = p if p is not None else digits_only(v)
            if len(d) >= 7:
                self.digits[d] = kind
            return
        if kind in ("bank_card", "resident_id"):
            d = "".join(ch for ch in low if ch.isdigit() or ch == "x")
            if len(d) >= 7:
                self.digits[d] = kind
            return
        h = low[2:] if low.startswith("0x") else low
        h = h.replace("-", "")
        if len(h) >= 16 and _HEX_FULL.fullmatch(h) and not h.isdigit():
            self.hexes[h] = kind
        elif h.isdigit() and len(h) >= 7:
            self.digits[h] = kind
        elif len(v) >= 20 and _B58_FULL.fullmatch(v) and v != low and v[:3] not in ("bc1", "tb1"):
            self.base58[v] = kind
        else:
            a = _NON_ALNUM.sub("", low)
            if len(a) >= 6:
                self.alnum[a] = kind

    def add_many(self, values: Iterable[str | tuple[str, str]]) -> None:
        """Add extra needles: ``(kind, value)`` pairs, or bare values whose kind is inferred."""
        for item in values:
            if isinstance(item, tuple):
                self.add(item[0], item[1])
            elif item is not None and str(item).strip():
                v = str(item)
                self.add(_infer_kind(normalise_text(v).strip()), v)

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

    def _c(self) -> _Compiled:
        if self._compiled is None:
            self._compiled = _Compiled(self)
        return self._compiled

    # -- matching ---------------------------------------------------------------------------
    def scan_text(self, text: str) -> list[tuple[str, str]]:
        """(kind, form) for every identifier found in ``text``; form is ``exact`` (the whole
        cell is a personal value), ``normalised`` (a personal value inside it, in any written
        form) or ``detected`` (validates as an identifier, in no vault)."""
        return self._scan_norm(normalise_text(text))

    def _scan_norm(self, t: str) -> list[tuple[str, str]]:
        if not t:
            return []
        hits: dict[str, str] = {}
        c = self._c()
        low = t.lower()
        kind = self.exact.get(low.strip())
        if kind is not None:
            hits[kind] = "exact"
        if self.digits:
            self._scan_digits(low, hits)
        if self.hexes:
            for m in _HEX_SEQ.finditer(low):
                if m.end() - m.start() >= c.hex_min:
                    run = _HEX_SEPS.sub("", m.group())
                    _windows(run, c.hex_lengths, self.hexes, hits)
        if self.base58:
            for m in _B58_RUN.finditer(t):
                _windows(m.group(), c.b58_lengths, self.base58, hits)
        if c.alnum_re is not None:
            compact = _NON_ALNUM.sub("", low)
            for m in c.alnum_re.finditer(compact):
                pos = m.start()
                for n in c.alnum_index[m.group(1)]:
                    k = self.alnum.get(compact[pos : pos + n])
                    if k is not None:
                        hits.setdefault(k, "normalised")
        if self.emails and "@" in low:
            self._scan_emails(low, hits)
        if self.ips and ("." in low or ":" in low):
            for m in _IPV4.finditer(low):
                ip = canonical_ip(m.group())
                if ip is not None and ip in self.ips:
                    hits.setdefault(self.ips[ip], "normalised")
            for m in _IPV6.finditer(low):
                ip = canonical_ip(m.group(1))
                if ip is not None and ip in self.ips:
                    hits.setdefault(self.ips[ip], "normalised")
        if self.cjk_names:
            for m in _CJK_RUN.finditer(t):
                run = m.group()
                if any(
                    run[i : i + n] in self.cjk_names
                    for n in (2, 3, 4)
                    for i in range(len(run) - n + 1)
                ):
                    hits.setdefault("person_name", "normalised")
                    break
        if self.latin_names and "person_name" not in hits:
            words = [w.casefold() for w in _WORD.findall(t)]
            if any(
                " ".join(words[i : i + n]) in self.latin_names
                for i in range(len(words))
                for n in range(2, min(self.max_name_words, len(words) - i) + 1)
            ):
                hits.setdefault("person_name", "normalised")
        for k in find_identifiers(t):
            hits.setdefault(k, "detected")
        return list(hits.items())

    def _scan_digits(self, low: str, hits: dict[str, str]) -> None:
        """Digit needles in ``low``: every join of up to 8 consecutive digit groups (separators
        dropped) looked up whole, with or without a country code; needles of
        :data:`_LONG_DIGITS`+ digits also as a window anywhere inside up to 3 joined groups."""
        long_lengths = self._c().digit_long_lengths
        for m in _DIGIT_SEQ.finditer(low):
            if m.end() - m.start() < 7:
                continue
            groups = _DIGIT_GROUP.findall(m.group())
            for i in range(len(groups)):
                cand = ""
                for j in range(i, min(i + 8, len(groups))):
                    cand += groups[j]
                    if len(cand) > 24:
                        break
                    if len(cand) < 7:
                        continue
                    kind = self._digit_kind(cand)
                    if kind is None and cand[-1] == "x":
                        kind = self._digit_kind(cand[:-1])  # a letter after the number
                    if kind is not None:
                        hits.setdefault(kind, "normalised")
                if long_lengths:
                    run = "".join(groups[i : i + 3])
                    if len(run) > long_lengths[0]:
                        _windows(run, long_lengths, self.digits, hits)

    def _digit_kind(self, cand: str) -> str | None:
        kind = self.digits.get(cand)
        if kind is None:
            for cc in ("0086", "86"):
                if cand.startswith(cc) and self.digits.get(cand[len(cc) :]) == "mobile_number":
                    return "mobile_number"
        return kind

    def _scan_emails(self, low: str, hits: dict[str, str]) -> None:
        for m in _EMAIL.finditer(low):
            local, _, dom = m.group().rpartition("@")
            for j in range(len(dom), 0, -1):
                locals_ = self.emails.get(dom[:j])
                if locals_ is None:
                    continue
                for i in range(len(local)):
                    k = locals_.get(local[i:])
                    if k is not None:
                        hits.setdefault(k, "normalised")
                        return

    # -- vectorised column scan -------------------------------------------------------------
    def scan_array(self, values: pa.Array) -> list[tuple[int, list[tuple[str, str]]]]:
        """Hits per index of a string array, the same as :meth:`scan_text` of each cell.

        A vectorised pre-filter over the array's bytes (:class:`_Shapes`) picks the cells that
        could hold a needle or fire a detector; only those reach Python. Digest-shaped cells
        (single-case hex, ``0x`` hex, UUIDs) are probed for hex and long digit needles in numpy
        instead (:meth:`_scan_hashlike`)."""
        if len(values) == 0:
            return []
        arr = values if values.type == pa.string() else values.cast(pa.string())
        if arr.null_count:
            arr = pc.fill_null(arr, "")
        shapes = _Shapes.of(arr)
        c = self._c()
        out: dict[int, dict[str, str]] = {}
        hashlike = shapes.hashlike()
        if hashlike.any():
            self._scan_hashlike(arr, shapes, hashlike, out)
        cand = shapes.candidates(c, hashlike)
        if c.bare_exact is not None:
            cand |= self._exact_only(arr, shapes, cand)
        idx = np.flatnonzero(cand)
        if len(idx):
            texts = arr.take(pa.array(idx)).to_pylist()
            seen: dict[str, list[tuple[str, str]]] = {}
            for i, text in zip(idx.tolist(), texts, strict=True):
                found = seen.get(text)
                if found is None:
                    found = seen[text] = self._scan_norm(normalise_text(text))
                if found:
                    slot = out.setdefault(i, {})
                    for k, f in found:
                        if k not in slot or f == "exact":
                            slot[k] = f
        return [(i, list(out[i].items())) for i in sorted(out)]

    def _exact_only(self, arr: pa.StringArray, shapes: _Shapes, done: np.ndarray) -> np.ndarray:
        """Cells equal to a needle the byte filter cannot see (e.g. a one-word Latin name)."""
        c = self._c()
        assert c.bare_exact is not None
        todo = np.flatnonzero(~done & (shapes.lengths >= c.bare_min))
        out = np.zeros(shapes.n, bool)
        if len(todo):
            cells = pc.utf8_lower(pc.utf8_trim_whitespace(arr.take(pa.array(todo))))
            hit = pc.fill_null(pc.is_in(cells, value_set=c.bare_exact), False)
            out[todo[hit.to_numpy(zero_copy_only=False)]] = True
        return out

    def _scan_hashlike(
        self, arr: pa.StringArray, shapes: _Shapes, mask: np.ndarray, out: dict[int, dict[str, str]]
    ) -> None:
        """Digest-shaped cells: hex needles at every offset, long digit needles inside their
        digit runs, probed by the first 8 bytes of each window (:meth:`_Compiled.probe`) and
        confirmed exactly. Digit needles under :data:`_LONG_DIGITS` digits are not searched
        inside digests, where a digit group bounded by letters is common."""
        c = self._c()
        idx = np.flatnonzero(mask)
        ox = mask & shapes.prefix2_ox()
        if c.hex_probe is not None or c.digit_probe is not None:
            # Body: lower case, without the ``0x`` prefix and UUID dashes.
            d = shapes.data
            keep = np.repeat(mask, shapes.lengths) & (d != 45)
            keep[shapes.starts[ox]] = False
            keep[shapes.starts[ox] + 1] = False
            body = np.ascontiguousarray(d[keep] | np.uint8(0x20))
            # A digest-shaped cell with dashes is a UUID: 32 hex digits.
            uuid = shapes.cells_with(d == 45)[idx]
            blen = np.where(uuid, 32, shapes.lengths[idx] - 2 * ox[idx])
            bstart = np.zeros(len(idx), np.int64)
            np.cumsum(blen[:-1], out=bstart[1:])
            owner_end = bstart + blen
            pos = np.zeros(0, np.int64)
            if c.hex_probe is not None:
                pos = c.hex_probe.probe(body, c.hex_probe.windows(bstart, blen))
            if c.digit_probe is not None:
                lo = c.digit_probe.lengths[0]
                w = _window((body - np.uint8(48)) < np.uint8(10), lo)
                at = np.flatnonzero(w)
                # A window must not straddle two cells.
                own = np.searchsorted(bstart, at, side="right") - 1
                at = at[at + lo <= owner_end[own]]
                pos = np.union1d(pos, c.digit_probe.probe(body, at))
            for p in pos.tolist():
                j = int(np.searchsorted(bstart, p, side="right") - 1)
                run = body[p : owner_end[j]].tobytes().decode("ascii")
                for table in (self.hexes, self.digits):
                    for n in c.probe_lengths:
                        if n > len(run):
                            break
                        kind = table.get(run[:n])
                        if kind is None:
                            continue
                        i = int(idx[j])
                        raw = str(arr[i].as_py()).strip().lower()
                        form = "exact" if self.exact.get(raw) == kind else "normalised"
                        slot = out.setdefault(i, {})
                        if slot.get(kind) != "exact":
                            slot[kind] = form
        # ``0x`` + 40 single-case hex is an Ethereum address whether or not it is vaulted.
        for e in np.flatnonzero(ox & (shapes.lengths == 42)).tolist():
            out.setdefault(e, {}).setdefault("blockchain_address", "detected")


class _Probe:
    """First-8-byte keys of needles (ASCII, at least 8 characters), hashed into a bitmap of
    2**_PROBE_BITS bits: a window whose key misses cannot be a needle; the rare hits (false
    ones at a rate of about needles / 2**_PROBE_BITS) are confirmed exactly by the caller."""

    def __init__(self, needles: Sequence[str]) -> None:
        self.lengths = sorted({len(n) for n in needles})
        keys = np.frombuffer(b"".join(n[:8].encode("ascii") for n in needles), "<u8")
        h = (keys * _PROBE_MULT) >> np.uint64(64 - _PROBE_BITS)
        self.bitmap = np.zeros(1 << (_PROBE_BITS - 3), np.uint8)
        bits = np.left_shift(1, h & np.uint64(7)).astype(np.uint8)
        np.bitwise_or.at(self.bitmap, h >> np.uint64(3), bits)

    def windows(self, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Every start position of a window as long as the shortest needle inside a cell."""
        return self.windows_of(self.lengths[0], starts, lengths)

    @staticmethod
    def windows_of(width: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Every start position of a window of ``width`` bytes inside a cell."""
        per_cell = np.maximum(lengths - width + 1, 0)
        total = int(per_cell.sum())
        if total == 0:
            return np.zeros(0, np.int64)
        offs = np.zeros(len(per_cell), np.int64)
        np.cumsum(per_cell[:-1], out=offs[1:])
        return np.arange(total, dtype=np.int64) + np.repeat(starts - offs, per_cell)

    def probe(self, body: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """The ``positions`` of ``body`` whose 8-byte key hits the bitmap."""
        if len(body) < 8 or not len(positions):
            return np.zeros(0, np.int64)
        keys = np.ndarray((len(body) - 7,), "<u8", buffer=body, strides=(1,))
        hits = []
        for lo in range(0, len(positions), _PROBE_CHUNK):
            pos = positions[lo : lo + _PROBE_CHUNK]
            h = (keys[pos] * _PROBE_MULT) >> np.uint64(64 - _PROBE_BITS)
            bit = (self.bitmap[h >> np.uint64(3)] >> (h & np.uint64(7)).astype(np.uint8)) & 1
            hits.append(pos[bit.astype(bool)])
        return np.concatenate(hits)


def _window(mask: np.ndarray, k: int) -> np.ndarray:
    """``w[i]``: ``mask`` holds on all of ``mask[i : i + k]`` (by doubling: log2(k) ANDs)."""
    if k <= 1:
        return mask
    if len(mask) < k:
        return np.zeros(0, bool)
    cur, have = mask, 1
    while have * 2 <= k:
        cur = cur[:-have] & cur[have:]
        have *= 2
    if have < k:
        cur = cur[: -(k - have)] & cur[k - have :]
    return cur


def _in_bytes(data: np.ndarray, chars: bytes) -> np.ndarray:
    m: np.ndarray = data == chars[0]
    for ch in chars[1:]:
        m |= data == ch
    return m


class _Shapes:
    """Per-cell shape tests computed with numpy over an Arrow string array's byte buffer.

    A superset filter: a cell it rejects cannot hold any needle (in any indexed form) nor fire
    any detector. Each test runs in two steps: byte-level comparisons over the whole buffer
    (byte classes, runs by doubling, literal bytes), whose hits are mapped to their cells; then,
    on the few cells that pass, the exact per-cell condition (the longest run of digits with
    separators, counts of dots, colons, ``+``). A byte-level run may straddle two adjacent
    cells: that only sends an extra cell to the exact step, never drops one."""

    def __init__(self, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        self.data = data
        self.starts = starts
        self.lengths = lengths
        self.n = len(starts)
        self.empty = lengths == 0
        self._classes: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, arr: pa.StringArray) -> _Shapes:
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, np.int32)[arr.offset : arr.offset + len(arr) + 1]
        base, end = int(offsets[0]), int(offsets[-1])
        data = (
            np.frombuffer(data_buf, np.uint8)[base:end]
            if data_buf is not None
            else np.zeros(0, np.uint8)
        )
        return cls(data, (offsets[:-1] - base).astype(np.int64), np.diff(offsets).astype(np.int64))

    def subset(self, mask: np.ndarray) -> _Shapes:
        """The cells selected by ``mask``, with their bytes gathered."""
        if mask.all():
            return self
        starts, lengths = self.starts[mask], self.lengths[mask]
        total = int(lengths.sum())
        new_starts = np.zeros(len(starts), np.int64)
        np.cumsum(lengths[:-1], out=new_starts[1:])
        idx = np.arange(total, dtype=np.int64) + np.repeat(starts - new_starts, lengths)
        return _Shapes(self.data[idx], new_starts, lengths)

    # -- byte classes (ASCII; computed on first use) -------------------------------------------
    def cls(self, name: str) -> np.ndarray:
        got = self._classes.get(name)
        if got is None:
            d = self.data
            if name == "digit":
                got = (d - np.uint8(48)) < np.uint8(10)
            elif name == "folded":  # ASCII letters in lower case (other bytes garbled)
                got = d | np.uint8(0x20)
            elif name == "alpha":
                got = (self.cls("folded") - np.uint8(97)) < np.uint8(26)
            elif name == "upper":
                got = (d - np.uint8(65)) < np.uint8(26)
            elif name == "lower":
                got = (d - np.uint8(97)) < np.uint8(26)
            elif name == "hex":
                got = self.cls("digit") | ((self.cls("folded") - np.uint8(97)) < np.uint8(6))
            elif name == "b58":
                got = (self.cls("digit") & (d != 48)) | (
                    self.cls("alpha") & (d != 73) & (d != 79) & (d != 108)
                )
            elif name == "dsep":  # separators inside a written number
                got = _in_bytes(d, b" \t-.()/_+")
            elif name == "hsep":  # separators inside written hex
                got = _in_bytes(d, b" \t-:.")
            elif name == "punct":  # a superset of both and of name joiners, in three passes
                got = ((d - np.uint8(0x20)) < np.uint8(16)) | (d == 9)
            else:
                raise KeyError(name)
            self._classes[name] = got
        return got

    # -- from bytes to cells -----------------------------------------------------------------
    def cells_with(self, at: np.ndarray) -> np.ndarray:
        """Cells owning a True position of ``at`` (a mask over the first ``len(at)`` bytes)."""
        out = np.zeros(self.n, bool)
        k = int(np.count_nonzero(at))
        if k == 0:
            return out
        if 4 * k <= self.n:
            pos = np.flatnonzero(at)
            out[np.searchsorted(self.starts, pos, side="right") - 1] = True
            return out
        full = at
        if len(at) < len(self.data):
            full = np.zeros(len(self.data), bool)
            full[: len(at)] = at
        got = np.logical_or.reduceat(full, np.minimum(self.starts, len(full) - 1))
        return np.asarray(got & ~self.empty)

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Per cell: how many of its bytes ``mask`` (over all bytes) selects."""
        if not len(mask):
            return np.zeros(self.n, np.int64)
        got = np.add.reduceat(mask, np.minimum(self.starts, len(mask) - 1), dtype=np.int64)
        return np.where(self.empty, 0, got)

    def max_run(self, counted: np.ndarray, joiners: np.ndarray) -> np.ndarray:
        """Per cell: the most ``counted`` bytes in a stretch of ``counted | joiners`` bytes."""
        if not len(counted):
            return np.zeros(self.n, np.int64)
        val = counted.astype(np.int32)
        inside = counted | joiners
        csum = np.cumsum(val, dtype=np.int32)
        base = np.where(inside, np.int32(-1), csum)
        starts = self.starts[~self.empty]
        base[starts] = np.where(inside[starts], csum[starts] - val[starts], csum[starts])
        np.maximum.accumulate(base, out=base)
        runs = csum - base
        out = np.maximum.reduceat(runs, np.minimum(self.starts, len(runs) - 1))
        return np.where(self.empty, 0, out).astype(np.int64)

    def narrow(self, sel: np.ndarray, test: Callable[[_Shapes], np.ndarray]) -> np.ndarray:
        """``sel`` narrowed to the cells whose bytes pass the exact per-cell ``test`` (on the
        gathered cells, or on all cells when most are selected: gathering would cost more)."""
        k = int(np.count_nonzero(sel))
        if k == 0:
            return np.zeros(self.n, bool)
        if 2 * k > self.n:
            return np.asarray(sel & test(self))
        out = np.zeros(self.n, bool)
        out[sel] = test(self.subset(sel))
        return out

    def has_prefixes(self, prefixes: Sequence[bytes]) -> np.ndarray:
        """Cells containing any of ``prefixes`` (lower-case ASCII), case-insensitively."""
        cells = np.zeros(self.n, bool)
        data = self.cls("folded")  # compared only at letters and digits, where it is exact
        for first in sorted({p[0] for p in prefixes}):
            pos = np.flatnonzero(data == first)
            if not len(pos):
                continue
            for p in (q for q in prefixes if q[0] == first):
                ok = pos[pos + len(p) <= len(data)]
                for j in range(1, len(p)):
                    ok = ok[data[ok + j] == p[j]]
                if len(ok):
                    owner = np.searchsorted(self.starts, ok, side="right") - 1
                    # A prefix must not straddle two cells.
                    inside = ok + len(p) <= self.starts[owner] + self.lengths[owner]
                    cells[owner[inside]] = True
        return cells

    def prefix2_ox(self) -> np.ndarray:
        """Cells starting with ``0x``."""
        got = self._classes.get("0x")
        if got is None:
            got = np.zeros(self.n, bool)
            ok = np.flatnonzero(self.lengths >= 2)
            s = self.starts[ok]
            got[ok] = (self.data[s] == 48) & (self.data[s + 1] == 120)
            self._classes["0x"] = got
        return got

    # -- the filters -------------------------------------------------------------------------
    def hashlike(self) -> np.ndarray:
        """Single-case hex of 32+ characters with at least one letter, ``0x`` + such hex, or a
        single-case UUID (all-digit runs go to the digit scan instead). Computed from which
        cells hold a non-hex byte, an upper-case and a lower-case letter: sparse for a column
        of digests, so mostly without per-cell sums."""
        big = self.lengths >= 32
        if not big.any():
            return big
        d = self.data
        ox = big & self.prefix2_ox()
        x_at = self.starts[ox] + 1  # the "x" of "0x" is neither a hex digit nor a letter here
        other = ~self.cls("hex") & (d != 45)
        other[x_at] = False
        lower = self.cls("lower").copy()
        lower[x_at] = False
        dashed = self.cells_with(d == 45)
        has_upper, has_lower = self.cells_with(self.cls("upper")), self.cells_with(lower)
        shaped = big & ~self.cells_with(other) & (has_upper ^ has_lower)
        uuid = shaped & dashed
        if uuid.any():
            uuid = self.narrow(
                uuid, lambda s: (s.lengths == 36) & (s.count(s.data == 45) == 4) & ~s.prefix2_ox()
            )
        return np.asarray(shaped & (~dashed | uuid))

    def candidates(self, c: _Compiled, skip: np.ndarray) -> np.ndarray:
        """Cells that may hold a needle or fire a detector (``skip``: cells handled elsewhere,
        left out of the byte-level passes when they are many)."""
        if 4 * int(np.count_nonzero(skip)) > self.n:
            out = np.zeros(self.n, bool)
            rest = ~skip
            if rest.any():
                out[rest] = self.subset(rest).candidates(c, np.zeros(int(rest.sum()), bool))
            return out
        data = self.data
        done = skip | self.empty
        cand = self.cells_with(data >= 0x80) & ~done

        def more(sel: np.ndarray) -> None:
            nonlocal cand, done
            sel &= ~done
            cand |= sel
            done |= sel

        # Byte-level steps use the broad "punct" class (a superset of every joiner); the
        # exact steps use the joiners of the scan. A test no cell is long enough for is skipped.
        longest = int(self.lengths.max()) if self.n else 0
        digit = self.cls("digit")
        d_min = min(c.digit_min, _DETECT_DIGITS)
        if longest >= d_min:
            w = _window(digit | self.cls("punct") | (data == 0x5F), d_min)
            lvl1 = self.cells_with(w & digit[: len(w)]) & ~done
            if lvl1.any():
                # All-digit cells (numbers, numeric ids) are decided in numpy (_DigitCells).
                pure = lvl1 & ~self.cells_with(~digit)
                more(self.narrow(pure, lambda s: _digit_cells_may_hit(s, c)))
                more(
                    self.narrow(
                        lvl1 & ~pure, lambda s: s.max_run(s.cls("digit"), s.cls("dsep")) >= d_min
                    )
                )
        h_min = min(c.hex_min or _DETECT_HEX, _DETECT_HEX)
        if longest >= h_min:
            hexc = self.cls("hex")
            w = _window(hexc | self.cls("punct") | (data == 0x3A), h_min)
            lvl1 = self.cells_with(w & hexc[: len(w)]) & ~done
            more(self.narrow(lvl1, lambda s: s.max_run(s.cls("hex"), s.cls("hsep")) >= h_min))
        b_min = min(c.b58_min or _DETECT_B58, _DETECT_B58)
        if longest >= b_min:
            more(self.cells_with(_window(self.cls("b58"), b_min)))
        more(self.has_prefixes([*c.alnum_prefixes, b"bc1", b"tb1"]))
        plus = self.cells_with(data == 43) & ~done
        more(self.narrow(plus, lambda s: s.count(s.cls("digit")) >= 7))
        if c.emails:
            more(self.cells_with(data == 64))
        if c.ips and len(data) >= 3:
            dot = data == 46
            if dot.any():
                v4 = self.cells_with(digit[:-2] & dot[1:-1] & digit[2:]) & ~done
                more(
                    self.narrow(
                        v4,
                        lambda s: (s.count(s.data == 46) >= 3) & (s.count(s.cls("digit")) >= 4),
                    )
                )
            # An IPv6 address has "::" or at least six colons (eight groups, or six + IPv4).
            colon = data == 58
            if colon.any():
                more(self.cells_with(colon[:-1] & colon[1:]))
                colons = self.cells_with(colon) & ~done
                more(self.narrow(colons, lambda s: s.count(s.data == 58) >= 6))
        if c.latin_names and len(data) >= 3:
            punct = self.cls("punct")
            if punct.any():
                alpha = self.cls("alpha")
                more(self.cells_with(alpha[:-2] & punct[1:-1] & alpha[2:]))
        return np.asarray(cand & ~skip)


# ISO 7064 MOD 11-2 (GB 11643): weights 2**(17-i) mod 11; check characters by remainder, "X"
# (never a digit) as -1.
_RID_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], np.int64)
_RID_CHECK = np.array([1, 0, -1, 9, 8, 7, 6, 5, 4, 3, 2], np.int64)


def _digit_cells_may_hit(s: _Shapes, c: _Compiled) -> np.ndarray:
    """For cells of ASCII digits only: could the per-cell scan report anything?

    On such a cell only these can fire (every other needle family and detector needs a letter,
    a separator or a non-digit byte, and is tested by its own step): a digit needle of
    :data:`_LONG_DIGITS`+ digits anywhere inside (probed), a shorter one as the whole cell with
    or without ``86``/``0086`` (:attr:`_Compiled.short_digits`), and the detectors, which need
    the whole digit run: a CN mobile (11 digits starting 1, or 86 / 0086 + 11), a resident ID
    (18 digits, MOD 11-2), a card (13-19 digits, IIN 2-6, Luhn). Cells that pass go to the exact
    per-cell scan; the rest cannot hold anything."""
    out = np.zeros(s.n, bool)
    lo = c.digit_probe.lengths[0] if c.digit_probe is not None else 0
    if c.digit_probe is not None:
        pos = c.digit_probe.probe(s.data, _Probe.windows_of(lo, s.starts, s.lengths))
        if len(pos):
            out[np.searchsorted(s.starts, pos, side="right") - 1] = True
    for length in np.unique(s.lengths).tolist():
        rows = np.flatnonzero(s.lengths == length)
        if length > 19 and length not in c.short_digits:
            continue
        m = (s.data[s.starts[rows][:, None] + np.arange(length)] - np.uint8(48)).astype(np.int64)
        flag = np.zeros(len(rows), bool)
        if length == 11:
            flag |= m[:, 0] == 1
        elif length == 13:
            flag |= (m[:, 0] == 8) & (m[:, 1] == 6)
        elif length == 15:
            flag |= (m[:, 0] == 0) & (m[:, 1] == 0) & (m[:, 2] == 8) & (m[:, 3] == 6)
        if length == 18:
            flag |= _RID_CHECK[(m[:, :17] @ _RID_WEIGHTS) % 11] == m[:, 17]
        if 13 <= length <= 19:
            doubled = m[:, length - 2 :: -2] * 2
            total = m[:, length - 1 :: -2].sum(axis=1) + (doubled - 9 * (doubled > 9)).sum(axis=1)
            flag |= (total % 10 == 0) & (m[:, 0] >= 2) & (m[:, 0] <= 6)
        wanted = c.short_digits.get(length)
        if wanted is not None:
            value = m @ (10 ** np.arange(length - 1, -1, -1, dtype=np.int64))
            flag |= np.isin(value, wanted)
        out[rows[flag]] = True
    return out


def _windows(
    run: str, lengths: Sequence[int], table: Mapping[str, str], hits: dict[str, str]
) -> None:
    for n in lengths:
        if n > len(run):
            break
        for i in range(len(run) - n + 1):
            k = table.get(run[i : i + n])
            if k is not None:
                hits.setdefault(k, "normalised")
                break


class _Compiled:
    """Lookup structures derived from a :class:`NeedleSet` (rebuilt after ``add``)."""

    def __init__(self, ns: NeedleSet) -> None:
        self.digit_long_lengths = sorted({len(d) for d in ns.digits if len(d) >= _LONG_DIGITS})
        self.hex_lengths = sorted({len(h) for h in ns.hexes})
        self.hex_min = self.hex_lengths[0] if self.hex_lengths else 0
        self.b58_lengths = sorted({len(b) for b in ns.base58})
        by_prefix: dict[str, set[int]] = {}
        for a in ns.alnum:
            by_prefix.setdefault(a[:3], set()).add(len(a))
        self.alnum_index = {p: sorted(lens) for p, lens in by_prefix.items()}
        self.alnum_re = (
            re.compile("(?=(" + "|".join(map(re.escape, sorted(self.alnum_index))) + "))")
            if self.alnum_index
            else None
        )
        self.digit_min = min((len(d) for d in ns.digits), default=_DETECT_DIGITS)
        self.b58_min = min(self.b58_lengths, default=0)
        self.alnum_prefixes = [p.encode() for p in sorted(self.alnum_index)]
        self.emails = bool(ns.emails)
        self.ips = bool(ns.ips)
        self.latin_names = bool(ns.latin_names)
        self._probe_index(ns)
        self.bare_exact: pa.Array | None = None
        self.bare_min = 0
        self._bare_exact(ns)

    def _probe_index(self, ns: NeedleSet) -> None:
        """Probes for the needles a digest-shaped cell can hold: hex, and long digit runs."""
        hexes = list(ns.hexes)
        digits = [d for d in ns.digits if len(d) >= _LONG_DIGITS and d.isdigit()]
        self.hex_probe = _Probe(hexes) if hexes else None
        self.digit_probe = _Probe(digits) if digits else None
        self.probe_lengths = sorted({len(p) for p in (*hexes, *digits)})
        # Whole-cell forms of the shorter digit needles, as integers by length (a digit string
        # of a given length is one integer): the needle, and 86 / 0086 + a mobile number.
        short: dict[int, set[int]] = {}
        for d, kind in ns.digits.items():
            if not d.isdigit() or len(d) >= _LONG_DIGITS:
                continue
            forms = [d, "86" + d, "0086" + d] if kind == "mobile_number" else [d]
            for f in forms:
                short.setdefault(len(f), set()).add(int(f))
        self.short_digits = {n: np.array(sorted(v), np.int64) for n, v in short.items()}

    def _bare_exact(self, ns: NeedleSet) -> None:
        """Exact needles that no byte test selects: they are looked up as whole cells."""
        keys = [k for k in ns.exact if k.strip()]
        if not keys:
            return
        arr = pa.array(keys, pa.string())
        shapes = _Shapes.of(arr)
        hashlike = shapes.hashlike()
        seen = shapes.candidates(self, hashlike) | (
            hashlike & np.array([k.replace("-", "").removeprefix("0x") in ns.hexes for k in keys])
        )
        bare = [k for k, s in zip(keys, seen.tolist(), strict=True) if not s]
        if bare:
            self.bare_exact = pa.array(sorted(bare), pa.string())
            self.bare_min = min(len(k.encode()) for k in bare)


# -- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeakFinding:
    """``count`` distinct values of ``kind`` found in ``location`` / ``column`` (``form``: exact,
    normalised or detected). Holds no value."""

    location: str
    column: str | None
    kind: str
    form: str
    count: int

    def __str__(self) -> str:
        where = f"{self.location} [{self.column}]" if self.column else self.location
        what = (
            "validated identifier(s) in no vault"
            if self.form == "detected"
            else f"personal value(s) ({self.form} match)"
        )
        return f"{where}: {self.count} {self.kind} {what}"


@dataclass(frozen=True)
class Unreadable:
    """A file the guard could not read; it fails the check (the guard does not pass what it
    cannot see)."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: unreadable ({self.reason}); convert it to a readable format"


@dataclass
class LeakReport:
    findings: list[LeakFinding]
    files_scanned: int
    tables_scanned: int
    needles: int
    unreadable: list[Unreadable] = field(default_factory=list)
    bytes_scanned: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings and not self.unreadable

    def summary(self) -> str:
        head = (
            f"leak guard: {len(self.findings)} finding(s), {len(self.unreadable)} unreadable "
            f"file(s) in {self.files_scanned} file(s) and {self.tables_scanned} table(s) against "
            f"{self.needles} personal value(s)"
        )
        lines = [f"  - {f}" for f in self.findings] + [f"  - {u}" for u in self.unreadable]
        return "\n".join([head, *lines])


CONTACT_FOLDERS = ("dpo",)
"""Parties whose files may name the controller's published contacts (the DPO's products)."""
_PARTIES = frozenset({"dpo", "risk", "buyers", "subjects", "issuer"})


def contact_allowlist(needles: NeedleSet, contacts: Iterable[str | None]) -> tuple[str, ...]:
    """The controller's own published contacts (e-mail, phone) that the guard lets pass in
    :data:`CONTACT_FOLDERS`: each configured contact, except one that holds a subject's value
    (any needle match, exact or normalised, as the guard would find it anywhere): that one is
    not allowed and is still reported wherever it appears. Longest first, so a contact that
    contains another is taken out whole."""
    allowed = set()
    for contact in contacts:
        text = (contact or "").strip()
        if text and all(form == "detected" for _, form in needles.scan_text(text)):
            allowed.add(text)
    return tuple(sorted(allowed, key=lambda c: (-len(c), c)))


class _Collector:
    def __init__(self, needles: NeedleSet, contacts: tuple[str, ...] = ()) -> None:
        self.needles = needles
        self.contacts = contacts
        self.counts: Counter[tuple[str, str | None, str, str]] = Counter()
        self.unreadable: list[Unreadable] = []
        self.files = 0
        self.bytes = 0

    def _without_contacts(self, location: str, arr: pa.Array) -> pa.Array:
        """``arr`` with the allowed contacts taken out, in a DPO file only; elsewhere as is."""
        if not self.contacts:
            return arr
        # The party is the first folder (out/<party>/...) or the second (staging/<run>/<party>/...):
        # a buyer whose id is "dpo" is still a buyer.
        folders = PurePosixPath(location.split("!", 1)[0]).parts[:-1]
        party = next((f for f in folders[:2] if f in _PARTIES), None)
        if party not in CONTACT_FOLDERS:
            return arr
        text = arr if arr.type == pa.string() else arr.cast(pa.string())
        for contact in self.contacts:
            text = pc.replace_substring(text, contact, " ")
        return text

    def values(self, location: str, column: str | None, values: pa.Array | Sequence[str]) -> None:
        arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
        arr = self._without_contacts(location, arr)
        hits = self.needles.scan_array(arr)
        if not hits:
            return
        # Count distinct values, as a DISTINCT scan of a table does.
        texts = arr.take(pa.array([i for i, _ in hits])).to_pylist()
        distinct: dict[tuple[str, str], set[str]] = {}
        for text, (_, found) in zip(texts, hits, strict=True):
            for kind, form in found:
                distinct.setdefault((kind, form), set()).add(text)
        for (kind, form), vals in distinct.items():
            self.counts[(location, column, kind, form)] += len(vals)

    def lines(self, location: str, lines: Sequence[str], first_line: int = 1) -> None:
        where: dict[tuple[str, str], list[int]] = {}
        arr = self._without_contacts(location, pa.array(list(lines), pa.string()))
        for i, found in self.needles.scan_array(arr):
            for kind, form in found:
                where.setdefault((kind, form), []).append(i + first_line)
        for (kind, form), nums in where.items():
            shown = ", ".join(map(str, nums[:5])) + (
                f" (+{len(nums) - 5} more)" if len(nums) > 5 else ""
            )
            label = f"line {shown}" if len(nums) == 1 else f"lines {shown}"
            self.counts[(location, label, kind, form)] += len(nums)

    def findings(self) -> list[LeakFinding]:
        return [
            LeakFinding(loc, col, kind, form, n)
            for (loc, col, kind, form), n in sorted(
                self.counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
            )
        ]


# -- Arrow columns (Parquet, CSV, tables) ----------------------------------------------------


def _leaves(name: str, arr: pa.Array) -> Iterator[tuple[str, pa.Array]]:
    """Flat leaf arrays of a (possibly nested) column, labelled ``a.b`` / ``a[]``."""
    t = arr.type
    if pa.types.is_dictionary(t):
        yield from _leaves(name, arr.dictionary)
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            yield from _leaves(f"{name}.{t.field(i).name}", arr.field(i))
    elif pa.types.is_map(t):
        yield from _leaves(f"{name}{{key}}", arr.keys)
        yield from _leaves(f"{name}{{value}}", arr.items)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _leaves(f"{name}[]", arr.flatten())
    else:
        yield name, arr


def _as_text(arr: pa.Array) -> tuple[pa.Array | None, bool]:
    """The values of a leaf that could hold an identifier, as strings (None when none can), and
    whether they are already distinct.

    Integers, floats and decimals hold identifiers only as integral values of 6+ digits (a phone
    number or resident ID stored as a number): those are formatted once per distinct value, and
    integer types too narrow for 6 digits are skipped. Dates, times, booleans and durations
    never hold one."""
    t = arr.type
    if pa.types.is_string(t):
        return arr, False
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(pa.string()), False
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        try:
            return arr.cast(pa.binary()).cast(pa.string()), False
        except pa.ArrowInvalid:
            return pa.array(
                [None if v is None else v.hex() for v in arr.to_pylist()], pa.string()
            ), False
    if pa.types.is_integer(t):
        if t.bit_width <= 16:
            return None, True
        big = pc.greater_equal(arr, 100_000)
        if pa.types.is_signed_integer(t):
            big = pc.or_(big, pc.less_equal(arr, -100_000))
        kept = pc.filter(arr, pc.fill_null(big, False))
        return (pc.unique(kept).cast(pa.string()) if len(kept) else None), True
    if pa.types.is_floating(t):
        f = arr.cast(pa.float64())
        keep = pc.and_(
            pc.and_(pc.equal(pc.floor(f), f), pc.greater_equal(pc.abs(f), 100_000.0)),
            pc.less(pc.abs(f), 1e19),
        )
        kept = pc.filter(f, pc.fill_null(keep, False))
        return (pc.unique(kept).cast(pa.int64()).cast(pa.string()) if len(kept) else None), True
    if pa.types.is_decimal(t):
        # Formatted exactly (a float would round an 18-digit resident ID), without ".000".
        digits = pc.replace_substring_regex(pc.unique(arr).cast(pa.string()), r"\.0*$", "")
        keep = pc.and_(
            pc.invert(pc.match_substring(digits, ".")),
            pc.greater_equal(pc.utf8_length(pc.replace_substring(digits, "-", "")), 6),
        )
        kept = pc.filter(digits, pc.fill_null(keep, False))
        return (kept if len(kept) else None), True
    if pa.types.is_null(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t):
        return None, True
    return arr.cast(pa.string()), False


def _distinct_if_repetitive(arr: pa.Array) -> pa.Array:
    """DISTINCT values of a column that repeats its values, else the column as it is: hashing
    every cell costs about as much as the byte pre-filter, so it pays only when it removes most
    cells. Repetition is estimated from the duplicates in a strided sample of 4,096 cells
    (about m**2 / 2D duplicates among m draws from D values)."""
    n = len(arr)
    m = 4096
    if n <= 2 * m:
        return pc.unique(arr)
    sample = arr.take(pa.array(np.arange(m, dtype=np.int64) * (n // m)))
    dups = m - len(pc.unique(sample))
    if dups == 0 or n * 2 * dups < 4 * m * m:  # fewer than ~4 rows per distinct value
        return arr
    return pc.unique(arr)


def _scan_column(c: _Collector, location: str, name: str, col: pa.ChunkedArray | pa.Array) -> None:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    for label, leaf in _leaves(name, arr):
        text, distinct = _as_text(leaf)
        if text is not None and len(text):
            c.values(location, label, text if distinct else _distinct_if_repetitive(text))


def _dictionary_encoded(pf: pq.ParquetFile) -> list[str]:
    """Top-level text columns stored mostly as dictionary indices: read as Arrow dictionaries,
    their distinct values come from the file's dictionary pages without hashing every cell.

    A column whose dictionary overflowed (near-unique ids fall back to plain pages) stores
    about 4 + its value length bytes per value; one that stays dictionary-encoded stores far
    fewer. Value lengths are estimated from the min/max statistics."""
    md = pf.metadata
    out = []
    for j, field_ in enumerate(pf.schema_arrow):
        t = field_.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            continue
        stored = values = 0
        plain = 0.0
        for g in range(md.num_row_groups):
            cm = md.row_group(g).column(j)
            st = cm.statistics
            if (
                cm.path_in_schema != field_.name
                or not cm.has_dictionary_page
                or st is None
                or not st.has_min_max
            ):
                break
            stored += cm.total_uncompressed_size
            values += cm.num_values
            plain += cm.num_values * (4 + (len(str(st.min)) + len(str(st.max))) / 2)
        else:
            if values and stored < 0.5 * plain:
                out.append(field_.name)
    return out


def _scan_parquet(c: _Collector, source: Any, location: str) -> None:
    pf = pq.ParquetFile(source)
    encoded = _dictionary_encoded(pf)
    if encoded:
        pf = pq.ParquetFile(source, read_dictionary=encoded)
    for name in pf.schema_arrow.names:
        _scan_column(c, location, name, pf.read(columns=[name]).column(0))


def _scan_csv(c: _Collector, data: bytes, location: str, delimiter: str) -> None:
    text = _decode(data)
    first = next(csv.reader(io.StringIO(text[:65536]), delimiter=delimiter), None)
    if not first:
        c.lines(location, text.splitlines())
        return
    c.values(location, "(header)", first)
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(
                column_names=[f"c{i}" for i in range(len(first))], skip_rows=1
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={f"c{i}": pa.string() for i in range(len(first))},
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        # Ragged or malformed rows: still readable text, scanned by line.
        c.lines(location, text.splitlines())
        return
    for i, name in enumerate(first):
        _scan_column(c, location, name or f"col{i + 1}", table.column(i))


def _walk_json(values: dict[str, list[str]], path: str, obj: Any) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            values.setdefault(f"{path} (keys)", []).append(str(k))
            _walk_json(values, f"{path}.{k}", v)
    elif isinstance(obj, list):
        for v in obj:
            _walk_json(values, f"{path}[]", v)
    elif obj is not None and not isinstance(obj, bool):
        values.setdefault(path, []).append(str(obj))


def _scan_json(c: _Collector, data: bytes, location: str, lines: bool) -> None:
    text = _decode(data)
    try:
        docs = (
            [json.loads(ln) for ln in text.splitlines() if ln.strip()]
            if lines
            else [json.loads(text)]
        )
    except json.JSONDecodeError:
        c.lines(location, text.splitlines())
        return
    values: dict[str, list[str]] = {}
    for doc in docs:
        _walk_json(values, "$", doc)
    for path, vals in values.items():
        c.values(location, path, sorted(set(vals)))


class _HtmlCells(HTMLParser):
    """Collects an HTML document's text by table column (header cells name the columns)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, list[str]] = {}
        self.headers: list[str] = []
        self.cell: list[str] | None = None
        self.cell_tag = ""
        self.col = 0
        self.in_script = False

    def _add(self, column: str, text: str) -> None:
        if text.strip():
            self.values.setdefault(column, []).append(text)

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
                self._add(f"<{tag}> attribute", v)

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
            self._add(column, text)
            self.col += 1
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        else:
            self._add("script" if self.in_script else "text", data)

    def handle_comment(self, data: str) -> None:
        self._add("comment", data)


def _scan_html(c: _Collector, data: bytes, location: str) -> None:
    p = _HtmlCells()
    p.feed(_decode(data))
    p.close()
    for column, vals in p.values.items():
        c.values(location, column, vals)


# -- files -----------------------------------------------------------------------------------


class _UnreadableError(Exception):
    pass


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise _UnreadableError("not valid UTF-16 text") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _UnreadableError("binary or not UTF-8 text") from None
    if "\x00" in text:
        raise _UnreadableError("binary content (NUL bytes)")
    return text


def _read_limited(stream: Any, location: str) -> bytes:
    data = stream.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise _UnreadableError(f"decompresses to more than {MAX_MEMBER_BYTES >> 20} MiB")
    return bytes(data)


def _strip_suffix(name: str, suffix: str) -> str:
    return name[: -len(suffix)] if name.lower().endswith(suffix) else name


def _scan_blob(
    c: _Collector, name: str, location: str, data: bytes | None, path: Path | None
) -> None:
    """Scan one file (from ``path``, or its bytes) by its content first, then by its name."""
    head = data[:8] if data is not None else _head(path)
    lname = name.lower()
    try:
        if head.startswith(b"PAR1"):
            _scan_parquet(c, pa.BufferReader(data) if data is not None else str(path), location)
            return
        raw = data if data is not None else path.read_bytes()  # type: ignore[union-attr]
        if head.startswith(b"\x1f\x8b"):
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
                body = _read_limited(gz, location)
            _scan_blob(c, _strip_suffix(name, ".gz"), location, body, None)
        elif head.startswith(b"BZh"):
            with bz2.BZ2File(io.BytesIO(raw)) as bz:
                body = _read_limited(bz, location)
            _scan_blob(c, _strip_suffix(name, ".bz2"), location, body, None)
        elif head.startswith(b"\xfd7zXZ\x00"):
            with lzma.LZMAFile(io.BytesIO(raw)) as xz:
                body = _read_limited(xz, location)
            _scan_blob(c, _strip_suffix(name, ".xz"), location, body, None)
        elif head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                for info in zf.infolist():
                    if info.is_dir():
                        continue
                    if info.file_size > MAX_MEMBER_BYTES:
                        raise _UnreadableError(f"member {info.filename} is too large")
                    with zf.open(info) as fh:
                        body = _read_limited(fh, location)
                    _scan_member(c, info.filename, f"{location}!{info.filename}", body)
        elif len(raw) > 262 and raw[257:262] == b"ustar":
            with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
                for member in tf.getmembers():
                    if not member.isfile():
                        continue
                    member_fh = tf.extractfile(member)
                    if member_fh is None:
                        raise _UnreadableError(f"member {member.name} cannot be extracted")
                    body = _read_limited(member_fh, location)
                    _scan_member(c, member.name, f"{location}!{member.name}", body)
        elif lname.endswith((".csv", ".tsv", ".tab")):
            _scan_csv(c, raw, location, "," if lname.endswith(".csv") else "\t")
        elif lname.endswith((".jsonl", ".ndjson")):
            _scan_json(c, raw, location, lines=True)
        elif lname.endswith(".json"):
            _scan_json(c, raw, location, lines=False)
        elif lname.endswith((".html", ".htm", ".xhtml")):
            _scan_html(c, raw, location)
        else:
            c.lines(location, _decode(raw).splitlines())
    except _UnreadableError as exc:
        c.unreadable.append(Unreadable(location, str(exc)))
    except (
        OSError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        zipfile.BadZipFile,
        tarfile.TarError,
        pa.ArrowException,
        RuntimeError,
        ValueError,
    ) as exc:
        c.unreadable.append(Unreadable(location, f"{type(exc).__name__}: corrupt or unsupported"))


def _scan_member(c: _Collector, name: str, location: str, data: bytes) -> None:
    _scan_blob(c, name, location, data, None)


def _head(path: Path | None) -> bytes:
    assert path is not None
    with path.open("rb") as fh:
        return fh.read(8)


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for p in sorted(root.rglob("*")):
        if p.is_file() or (p.exists() and not p.is_dir()):
            yield p


def scan_paths(
    root: str | Path, needles: NeedleSet, published_contacts: Iterable[str | None] = ()
) -> LeakReport:
    """Scan every file under ``root`` (or the file ``root``), whatever its name or type.
    Locations are relative to ``root``; members of archives are ``archive.zip!member``.
    ``published_contacts``: the controller's own contacts, allowed in the DPO's files
    (:func:`contact_allowlist`)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"leak guard: nothing to scan at {root}")
    c = _Collector(needles, contact_allowlist(needles, published_contacts))
    for path in _files(root):
        location = path.name if root.is_file() else path.relative_to(root).as_posix()
        c.files += 1
        try:
            c.bytes += path.stat().st_size
            if not path.is_file():
                raise _UnreadableError("not a regular file")
            _scan_blob(c, path.name, location, None, path)
        except _UnreadableError as exc:
            c.unreadable.append(Unreadable(location, str(exc)))
        except OSError as exc:
            c.unreadable.append(Unreadable(location, f"{type(exc).__name__}: cannot open"))
    return LeakReport(c.findings(), c.files, 0, len(needles), c.unreadable, c.bytes)


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
            _scan_column(c, table, name, arr)
    return LeakReport(c.findings(), 0, len(tables), len(needles))


def _needles(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    extra_needles: Iterable[str | tuple[str, str]],
    include_subject_ids: bool,
) -> NeedleSet:
    needles = NeedleSet.from_vault(PiiVault(con, keyvault), include_subject_ids=include_subject_ids)
    needles.add_many(extra_needles)
    return needles


def _merge(files: LeakReport | None, tables: LeakReport | None, needles: int) -> LeakReport:
    return LeakReport(
        (files.findings if files else []) + (tables.findings if tables else []),
        files.files_scanned if files else 0,
        tables.tables_scanned if tables else 0,
        needles,
        files.unreadable if files else [],
        files.bytes_scanned if files else 0,
    )


def scan_release(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    staging_dir: str | Path,
    tables: Sequence[str] = (),
    *,
    extra_needles: Iterable[str | tuple[str, str]] = (),
    include_subject_ids: bool = True,
    published_contacts: Iterable[str | None] = (),
) -> LeakReport:
    """The publish gate's scan: every file under ``staging_dir`` (which must exist) and every
    column of ``tables``, against the vault's values plus ``extra_needles`` (bare values or
    ``(kind, value)`` pairs, e.g. quarantined raw records) and the detectors. Release only if
    ``report.ok``: no finding and no unreadable file. ``published_contacts``: the controller's
    and DPO's own contacts, which the DPO's files may name (never a subject's value:
    :func:`contact_allowlist`)."""
    needles = _needles(con, keyvault, extra_needles, include_subject_ids)
    files = scan_paths(staging_dir, needles, published_contacts)
    return _merge(files, scan_tables(con, tables, needles) if tables else None, len(needles))


def scan_outputs(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    root: str | Path | None = None,
    tables: Sequence[str] = (),
    *,
    include_subject_ids: bool = True,
    extra_needles: Iterable[str | tuple[str, str]] = (),
    published_contacts: Iterable[str | None] = (),
) -> LeakReport:
    """Decrypt the vault in memory, then scan ``root`` (when it exists) and ``tables``
    (``published_contacts``: as for :func:`scan_release`)::

    report = scan_outputs(con, kv, out_dir, ["marts.insight_base"])
    if not report.ok: raise RuntimeError(report.summary())
    """
    needles = _needles(con, keyvault, extra_needles, include_subject_ids)
    files = (
        scan_paths(root, needles, published_contacts)
        if root is not None and Path(root).exists()
        else None
    )
    return _merge(files, scan_tables(con, tables, needles) if tables else None, len(needles))
