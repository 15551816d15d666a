"""The exchanged files: one self-describing binary message per batch, a JSON manifest per round.

A message is ``MAGIC | u32 header length | header (canonical JSON) | blob_1 .. blob_k`` where each
blob is a SEAL-serialised ciphertext. The header carries the protocol version, scheme, parameters
hash, model hash, key id, round id, batch number, applicant count, each blob's length and the
SHA-256 of the blobs. ``read_message`` refuses a truncated, padded or altered file and any header
field that differs from what the reader expects, naming the field.

The hashes catch corruption, truncation and mix-ups (another round, key, model or parameters);
they are not a MAC: a party that rewrites a file can recompute them (see THREAT_MODEL.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Sequence
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rfc8785

from privacy.he.errors import HEError
from privacy.he.params import PROTOCOL

MAGIC = b"LLHE\x01"
MANIFEST = "manifest.json"
CONTEXT = "context.bin"
# SEAL objects serialise only to a path in this binding; tmpfs keeps that a memory copy. Each
# process makes one private directory (0700, removed at exit) and each thread keeps one file in it
# open: SEAL rewrites it by path, this module reads and writes it through the open descriptor
# (pread/pwrite), which saves an open, a close and most page allocations per object. Before each
# use the path is checked to still name the descriptor's file (a cleaner that removed it would
# otherwise have SEAL write one file and this module read another). A multiprocessing finaliser
# (not atexit) removes the directory: pool workers leave through os._exit.
_SCRATCH = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
_scratch: tuple[int, str] | None = None
_scratch_lock = threading.Lock()
_scratch_names = itertools.count()
_thread_file = threading.local()
# SEAL's stream header starts with magic 0xA15E and header size 16, then SEAL's version (copied
# from an object SEAL saved itself, so the version always matches the library loading it).
_SEAL_MAGIC = b"\x5e\xa1\x10"


class _Saveable(Protocol):
    def save(self, path: str) -> None: ...


class _ScratchFile:
    """One thread's scratch file; closed and removed when the thread ends (in its own process
    only: a forked child must not remove its parent's file)."""

    def __init__(self, name: str) -> None:
        self.pid = os.getpid()
        self.name = name
        self.fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self.inode = os.fstat(self.fd).st_ino

    def intact(self) -> bool:
        try:
            return self.pid == os.getpid() and os.stat(self.name).st_ino == self.inode
        except FileNotFoundError:
            return False

    def __del__(self) -> None:
        if self.pid == os.getpid():
            os.close(self.fd)
            with contextlib.suppress(OSError):
                os.unlink(self.name)


def _scratch_file() -> _ScratchFile:
    cached: _ScratchFile | None = getattr(_thread_file, "file", None)
    if cached is not None and cached.intact():
        return cached
    global _scratch
    pid = os.getpid()
    with _scratch_lock:
        if _scratch is None or _scratch[0] != pid or not os.path.isdir(_scratch[1]):
            d = tempfile.mkdtemp(dir=_SCRATCH, prefix="ledgerlens-he-")
            Finalize(None, shutil.rmtree, args=(d, True), exitpriority=0)
            _scratch = (pid, d)
        name = os.path.join(_scratch[1], f"obj-{next(_scratch_names)}")
    fresh = _ScratchFile(name)
    _thread_file.file = fresh
    return fresh


def seal_bytes(obj: _Saveable) -> bytes:
    f = _scratch_file()
    obj.save(f.name)  # SEAL truncates and rewrites the same inode: the descriptor stays valid
    return os.pread(f.fd, os.fstat(f.fd).st_size, 0)


def seal_load(obj: Any, context: Any, data: bytes) -> None:
    """``obj.load(context, path)`` from bytes (SEAL validates the object against ``context``)."""
    f = _scratch_file()
    os.pwrite(f.fd, data, 0)
    os.ftruncate(f.fd, len(data))
    obj.load(context, f.name)


def _seal_stream(version: bytes, members: bytes) -> bytes:
    """SEAL's header (uncompressed: compr_mode 0) around ``members``."""
    return version + b"\x00\x00\x00" + struct.pack("<Q", 16 + len(members)) + members


def plain_from_coefficients(plain: Any, context: Any, coefficients: np.ndarray) -> None:
    """Load ``coefficients`` (uint64, each below the plain modulus) into a BFV ``Plaintext``.

    The bytes are SEAL's uncompressed Plaintext serialisation (parms_id zero, coefficient count,
    scale 1.0, the coefficient array), built in numpy: a Python list through an encoder costs
    ten times more. SEAL's ``load`` validates them (every coefficient below t), so a malformed
    array raises instead of encrypting something else.
    """
    c = np.ascontiguousarray(coefficients, dtype="<u8")
    version = _seal_version()
    array = _seal_stream(version, struct.pack("<Q", c.size) + c.tobytes())
    members = bytes(32) + struct.pack("<Qd", c.size, 1.0) + array
    seal_load(plain, context, _seal_stream(version, members))


@functools.cache
def _seal_version() -> bytes:
    import tenseal.sealapi as sa

    head = seal_bytes(sa.Plaintext("1"))[:5]
    if head[:3] != _SEAL_MAGIC:
        raise RuntimeError(f"unexpected SEAL serialisation header {head.hex()}")
    return head


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_message(header: dict[str, Any], blobs: Sequence[bytes]) -> bytes:
    h = dict(header, protocol=PROTOCOL, blob_lengths=[len(b) for b in blobs])
    h["blobs_sha256"] = sha256(b"".join(blobs))
    hb = rfc8785.dumps(h)
    return MAGIC + struct.pack(">I", len(hb)) + hb + b"".join(blobs)


def decode_message(
    data: bytes, where: str, expect: dict[str, Any]
) -> tuple[dict[str, Any], list[bytes]]:
    """Header and blobs of a message, after every integrity and binding check."""
    redo = "ask the sender to send the file again (or re-run the step that wrote it)"
    if len(data) < len(MAGIC) + 4 or data[: len(MAGIC)] != MAGIC:
        raise HEError(where, "is not a ledgerlens HE message (or is truncated)", redo)
    (hlen,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + hlen])
        lengths = [int(n) for n in header["blob_lengths"]]
    except (ValueError, KeyError, TypeError):
        raise HEError(where, "has a damaged or truncated header", redo) from None
    body = data[start + hlen :]
    if sum(lengths) != len(body):
        raise HEError(
            where, f"holds {len(body)} ciphertext bytes, its header declares {sum(lengths)}", redo
        )
    if sha256(body) != header.get("blobs_sha256"):
        raise HEError(where, "ciphertext bytes do not match their SHA-256 (tampered?)", redo)
    for field, want in dict(expect, protocol=PROTOCOL).items():
        got = header.get(field)
        if got != want:
            raise HEError(where, f"{field} is {got!r}, expected {want!r}", _fix_for(field))
    blobs, pos = [], 0
    for n in lengths:
        blobs.append(body[pos : pos + n])
        pos += n
    return header, blobs


def _fix_for(field: str) -> str:
    return {
        "key_id": "this was encrypted under another holder key: decrypt with that key, or "
        "re-encrypt the applicants under this one",
        "model_hash": "encrypt and score with the same model (re-run `he encrypt` with the "
        "scorer's model, or score with the points the batch was encrypted for)",
        "params_hash": "both sides must use the same scheme and parameters",
        "protocol": "upgrade both sides to the same ledgerlens version",
        "round_id": "the file belongs to another round: do not mix rounds in one directory",
    }.get(field, "re-run the round from `he encrypt`")


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    path = directory / MANIFEST
    path.write_text(json.dumps(dict(manifest, protocol=PROTOCOL), indent=1, sort_keys=True))
    return path


def read_manifest(directory: Path, kind: str) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    where = str(path)
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise HEError(where, "not found", f"pass the directory a `{kind}` step wrote") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HEError(where, "is not valid JSON (truncated?)", "copy the directory again") from None
    if not isinstance(m, dict) or m.get("kind") != kind:
        got = m.get("kind") if isinstance(m, dict) else None
        raise HEError(where, f"is a {got!r} manifest, expected {kind!r}", "check the --in path")
    if m.get("protocol") != PROTOCOL:
        raise HEError(where, f"protocol {m.get('protocol')!r}", _fix_for("protocol"))
    return m


def read_checked(path: Path, digest: str) -> bytes:
    """File bytes, refused unless they hash to ``digest`` (as listed in a manifest)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HEError(str(path), "listed in the manifest but missing", "copy it again") from None
    if sha256(data) != digest:
        raise HEError(
            str(path),
            "does not match the SHA-256 in its manifest (tampered or truncated)",
            "copy the directory again from its sender",
        )
    return data
