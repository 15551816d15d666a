"""Key management: a master key that wraps data keys and per-purpose keys.

:class:`KeyVault` is the interface (a KMS or HSM could implement it); :class:`LocalFileKeyVault`
keeps keys in a local directory (``$LEDGERLENS_HOME/keys``, mode 0700, files 0600):

- ``master.key``  the master key (only when it was generated here; when it comes from the
  environment variable ``LEDGERLENS_MASTER_KEY`` (base64 or hex, 32 bytes) nothing is written);
- ``master.kcv``  a key check value (HMAC of a constant under the master key) that identifies the
  master key a vault was initialised with; its presence marks the vault as *existing*;
- ``purposes/<purpose>.<kind>.key`` per-purpose keys (HMAC pseudonym keys, AES-SIV token keys),
  random, stored wrapped by the master key, so that master key rotation does not change pseudonyms.

- ``<name>.key``  named keys (e.g. the landing archive key), random, wrapped like purpose keys.

Every key has a *key-check value* (KCV, :func:`key_check_value`: a keyed hash of a constant, which
identifies a key without revealing it). The warehouse records them in ``vault.key_checks`` (one row
per key name: ``master``, ``purposes/<purpose>.<kind>``, ``<name>``). A key vault opened for an
existing warehouse (:func:`open_keyvault`, or ``expected=`` KCVs) refuses a missing or changed key
with :class:`KeyMissingError` / :class:`KeyChangedError`, naming the key file and how to restore it,
*before anything is written* (no key file, no warehouse row): a key the warehouse has used is never
regenerated, because a new pseudonym or erasure-register key would silently change every pseudonym
and bring erased subjects back. Key rotation stays explicit (:meth:`KeyVault.rotate`).

A vault that exists but whose master key is missing or wrong is refused with
:class:`MasterKeyError`; a new master key is never generated silently over an existing vault.

Wrapping is AES-256-GCM under a key-encryption key derived from the master key with HKDF-SHA256,
with associated data that binds what is wrapped (e.g. the subject id).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KEY_CHECKS_TABLE",
    "MASTER",
    "MASTER_KEY_ENV",
    "KeyCheckError",
    "KeyCheckReport",
    "KeyChangedError",
    "KeyKind",
    "KeyMissingError",
    "KeyVault",
    "KeyVaultError",
    "KeyWrapper",
    "LocalFileKeyVault",
    "MasterKeyChangedError",
    "MasterKeyError",
    "MasterKeyMissingError",
    "check_keys",
    "key_check_value",
    "open_keyvault",
    "parse_master_key",
    "record_key",
    "recorded_key_checks",
    "validate_purpose_name",
]

MASTER_KEY_ENV = "LEDGERLENS_MASTER_KEY"
MASTER = "master"
KEY_CHECKS_TABLE = "vault.key_checks"
KeyKind = Literal["hmac", "token"]
_KEY_SIZES: dict[str, int] = {"hmac": 32, "token": 64}  # token: AES-256-SIV needs 512 bits
_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NONCE = 12


class KeyVaultError(RuntimeError):
    """A key could not be read, unwrapped or written."""


class MasterKeyError(KeyVaultError):
    """The master key is missing, malformed, or not the one the vault was created with."""


class KeyCheckError(KeyVaultError):
    """A key is missing or is not the key the warehouse recorded; raised before anything is
    written. ``key_name`` is the name in ``vault.key_checks``, ``path`` the key file."""

    def __init__(self, key_name: str, path: Path | None, message: str) -> None:
        super().__init__(message)
        self.key_name = key_name
        self.path = path


class KeyMissingError(KeyCheckError):
    """A key the warehouse has used (or that must exist) is absent."""


class KeyChangedError(KeyCheckError):
    """A key exists but its key-check value differs from the recorded one (or it cannot be
    unwrapped): another key, a corrupted file, or a backup from before a rotation."""


class MasterKeyMissingError(KeyMissingError, MasterKeyError):
    """The master key of an existing key vault / warehouse is absent."""


class MasterKeyChangedError(KeyChangedError, MasterKeyError):
    """The master key given is not the one the key vault / warehouse was created with."""


def parse_master_key(text: str) -> bytes:
    """Decode a 32-byte master key given as hex (64 chars) or base64 (standard or URL-safe)."""
    s = text.strip()
    if len(s) == 64 and all(c in "0123456789abcdefABCDEF" for c in s):
        key = bytes.fromhex(s)
    else:
        try:
            padded = s + "=" * (-len(s) % 4)
            key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyError(
                f"{MASTER_KEY_ENV} is neither 64 hex characters nor base64"
            ) from None
    if len(key) != 32:
        raise MasterKeyError(f"the master key must be 32 bytes, got {len(key)}")
    return key


def validate_purpose_name(purpose: str) -> str:
    if not _PURPOSE_RE.match(purpose):
        raise ValueError(f"invalid purpose name {purpose!r}: use [a-z][a-z0-9_]*, up to 64 chars")
    return purpose


def _kcv(master: bytes) -> str:
    return hmac.new(master, b"ledgerlens/master-kcv/v1", hashlib.sha256).hexdigest()


def key_check_value(key: bytes) -> str:
    """The key-check value recorded in the warehouse: 64 bits of HMAC-SHA256(key, constant).
    Identifies a key (a changed key is detected with probability 1 - 2^-64) without revealing it."""
    return hmac.new(key, b"ledgerlens/kcv/v1", hashlib.sha256).hexdigest()[:16]


class KeyWrapper:
    """AES-256-GCM wrapping under a KEK derived from one master key."""

    def __init__(self, master: bytes) -> None:
        if len(master) != 32:
            raise MasterKeyError("the master key must be 32 bytes")
        kek = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"ledgerlens/kek/v1"
        ).derive(master)
        self._aead = AESGCM(kek)
        self.kcv = _kcv(master)
        self.fingerprint = self.kcv[:16]

    def wrap(self, key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
        except InvalidTag:
            raise KeyVaultError(
                f"cannot unwrap key for {aad.decode('utf-8', 'replace')!r}: wrong master key or "
                "corrupted wrapped key (authentication failed)"
            ) from None

    def wrap_many(self, keys: Sequence[bytes], aads: Sequence[bytes]) -> list[bytes]:
        nonces = os.urandom(_NONCE * len(keys))
        enc = self._aead.encrypt
        out = []
        for i, (k, a) in enumerate(zip(keys, aads, strict=True)):
            n = nonces[i * _NONCE : (i + 1) * _NONCE]
            out.append(n + enc(n, k, a))
        return out

    def unwrap_many(self, wrapped: Sequence[bytes], aads: Sequence[bytes]) -> list[bytes]:
        dec = self._aead.decrypt
        out = []
        for w, a in zip(wrapped, aads, strict=True):
            try:
                out.append(dec(w[:_NONCE], w[_NONCE:], a))
            except InvalidTag:
                raise KeyVaultError(
                    f"cannot unwrap data key for {a.decode('utf-8', 'replace')!r}: wrong master "
                    "key or corrupted wrapped key (authentication failed)"
                ) from None
        return out


class KeyVault(ABC):
    """Where keys live. Implementations: :class:`LocalFileKeyVault` (a KMS could be another)."""

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Short public identifier of the current master key (never the key)."""

    @abstractmethod
    def wrapper(self) -> KeyWrapper:
        """Wraps/unwraps data keys under the current master key."""

    @abstractmethod
    def purpose_key(self, purpose: str, kind: KeyKind = "hmac", *, create: bool = True) -> bytes:
        """The key of ``kind`` for ``purpose``, created on first use unless ``create`` is False
        or the warehouse recorded it (then a missing key is refused)."""

    @abstractmethod
    def key(self, name: str, *, create: bool = True) -> bytes:
        """The named 256-bit key ``name`` (e.g. ``archive``), same rules as :meth:`purpose_key`."""

    @abstractmethod
    def key_checks(self) -> dict[str, str]:
        """Key-check value of every key the vault holds (``master`` included), by key name."""

    @abstractmethod
    def verify(self, expected: Mapping[str, str]) -> None:
        """Raise :class:`KeyMissingError` / :class:`KeyChangedError` unless every key named in
        ``expected`` exists with that key-check value. Writes nothing."""

    @abstractmethod
    def rotate(
        self,
        new_master: bytes | None,
        rewrap: Callable[[KeyWrapper, KeyWrapper], None] | None = None,
    ) -> bytes:
        """Switch to a new master key (random if None); ``rewrap(old, new)`` lets stores outside
        the key vault re-wrap their data keys before the switch is committed. Returns the new key.
        """


_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_BACKUP_HINT = (
    "restore it from a backup of the keys directory (wrapped keys are only readable with the "
    "master key they were wrapped under: use a backup taken after the last `ledgerlens keys "
    "rotate`)"
)


class LocalFileKeyVault(KeyVault):
    """Keys in a local directory; see the module docstring for the layout.

    ``expected``: key-check values the warehouse recorded (see :func:`open_keyvault`); every one
    is verified in the constructor before anything is written, and a recorded key is never
    created again. ``existing_warehouse``: never generate a master key (the warehouse was written
    under one). ``record(name, kcv)``: called for every key created (after its file is written;
    if it raises, the file is removed again) and for the new master key on rotation.
    """

    def __init__(
        self,
        keys_dir: str | os.PathLike[str],
        master_key: bytes | str | None = None,
        *,
        env_var: str = MASTER_KEY_ENV,
        create: bool = True,
        expected: Mapping[str, str] | None = None,
        existing_warehouse: bool = False,
        record: Callable[[str, str], None] | None = None,
    ) -> None:
        self.keys_dir = Path(keys_dir)
        self._env_var = env_var
        self._cache: dict[str, bytes] = {}
        self._expected = dict(expected or {})
        self._record = record
        existing_kcv = self._read_kcv()
        initialised = (
            existing_kcv is not None
            or self._has_wrapped_keys()
            or bool(self._expected)
            or existing_warehouse
        )
        master, source = self._resolve_master(master_key)
        generated = master is None
        if master is None:
            if initialised:
                where = (
                    "the warehouse was written under one"
                    if existing_kcv is None
                    else f"master key fingerprint {existing_kcv[:16]}"
                )
                raise MasterKeyMissingError(
                    MASTER,
                    self.keys_dir / "master.key",
                    f"the key vault in {self.keys_dir} already exists ({where}) but no master key "
                    f"was provided: set {env_var} or restore {self.keys_dir / 'master.key'} from "
                    "a backup. Refusing to generate a new master key over an existing vault.",
                )
            if not create:
                raise MasterKeyError(f"no key vault in {self.keys_dir} and create=False")
            master = os.urandom(32)
            source = "generated"
        wrapper = KeyWrapper(master)
        if existing_kcv is not None and not hmac.compare_digest(existing_kcv, wrapper.kcv):
            raise MasterKeyChangedError(
                MASTER,
                self.keys_dir / "master.key",
                f"wrong master key for the key vault in {self.keys_dir} (from {source}): its "
                f"fingerprint {wrapper.fingerprint} does not match the vault's "
                f"{existing_kcv[:16]}: set {env_var} to the right key or restore "
                f"{self.keys_dir / 'master.key'} from a backup",
            )
        if existing_kcv is None and self._has_wrapped_keys():
            raise KeyMissingError(
                "master.kcv",
                self.keys_dir / "master.kcv",
                f"the key vault in {self.keys_dir} has wrapped keys but no master.kcv: restore "
                f"{self.keys_dir / 'master.kcv'} from a backup of the keys directory",
            )
        self.master_source = source
        self._wrapper = wrapper
        self._master_kcv = key_check_value(master)
        self.verify(self._expected)
        if generated:
            self._ensure_dir()
            self._write_secret(self.keys_dir / "master.key", base64.b64encode(master) + b"\n")
        if existing_kcv is None:
            self._ensure_dir()
            self._write_secret(self.keys_dir / "master.kcv", wrapper.kcv.encode() + b"\n")
        if generated and self._record is not None:
            self._record(MASTER, self._master_kcv)
            self._expected[MASTER] = self._master_kcv

    # -- KeyVault ---------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self._wrapper.fingerprint

    def wrapper(self) -> KeyWrapper:
        return self._wrapper

    def purpose_key(self, purpose: str, kind: KeyKind = "hmac", *, create: bool = True) -> bytes:
        validate_purpose_name(purpose)
        if kind not in _KEY_SIZES:
            raise ValueError(f"unknown key kind {kind!r}")
        return self._get(f"purposes/{purpose}.{kind}", create)

    def key(self, name: str, *, create: bool = True) -> bytes:
        if not _NAME_RE.match(name) or name == MASTER:
            raise ValueError(f"invalid key name {name!r}: use [a-z][a-z0-9_]*, not 'master'")
        return self._get(name, create)

    def key_checks(self) -> dict[str, str]:
        out = {MASTER: self._master_kcv}
        for name in self._wrapped_names():
            out[name] = key_check_value(self._load(name))
        return out

    def verify(self, expected: Mapping[str, str]) -> None:
        for name, kcv in sorted(expected.items()):
            if name == MASTER:
                if not hmac.compare_digest(kcv, self._master_kcv):
                    raise MasterKeyChangedError(
                        MASTER,
                        self.keys_dir / "master.key",
                        f"the master key (from {self.master_source}) is not the one this "
                        f"warehouse recorded (key-check value {kcv}): set {self._env_var} to the "
                        f"right key or restore {self.keys_dir / 'master.key'} from a backup",
                    )
                continue
            path = self._path(name)
            if not path.exists():
                raise self._missing(name, kcv)
            found = key_check_value(self._load(name))
            if not hmac.compare_digest(found, kcv):
                raise KeyChangedError(
                    name,
                    path,
                    f"key {name!r} in {path} is not the key this warehouse recorded (key-check "
                    f"value {found}, recorded {kcv}): {_BACKUP_HINT}.",
                )

    def _missing(self, name: str, kcv: str) -> KeyMissingError:
        path = self._path(name)
        return KeyMissingError(
            name,
            path,
            f"key {name!r} is missing: {path} does not exist, but this warehouse has used it "
            f"(key-check value {kcv}). {_BACKUP_HINT[0].upper()}{_BACKUP_HINT[1:]}. It is never "
            "regenerated: a new key would change every value derived from it (pseudonyms, "
            "erasure-register hashes, archives).",
        )

    def rotate(
        self,
        new_master: bytes | None,
        rewrap: Callable[[KeyWrapper, KeyWrapper], None] | None = None,
    ) -> bytes:
        new_key = new_master if new_master is not None else os.urandom(32)
        new = KeyWrapper(new_key)
        # Unwrap every wrapped key with the old master before anything changes.
        keys = [(name, self._load(name)) for name in self._wrapped_names()]
        if rewrap is not None:
            rewrap(self._wrapper, new)
        new_kcv = key_check_value(new_key)
        # The warehouse's data keys are re-wrapped (committed) by now: record the new master's
        # check value before the files change, so the warehouse never vouches for the old one.
        if self._record is not None:
            self._record(MASTER, new_kcv)
        for name, key in keys:
            self._write_wrapped(self._path(name), new, key, self._aad(name))
        if self.master_source in ("generated", "file"):
            self._write_secret(self.keys_dir / "master.key", base64.b64encode(new_key) + b"\n")
        self._write_secret(self.keys_dir / "master.kcv", new.kcv.encode() + b"\n")
        self._wrapper = new
        self._master_kcv = new_kcv
        if MASTER in self._expected:
            self._expected[MASTER] = new_kcv
        return new_key

    # -- helpers ----------------------------------------------------------------------------
    def _get(self, name: str, create: bool) -> bytes:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        path = self._path(name)
        if path.exists():
            key = self._load(name)
            recorded = self._expected.get(name)
            if recorded is not None and not hmac.compare_digest(key_check_value(key), recorded):
                self.verify({name: recorded})
        elif name in self._expected:
            raise self._missing(name, self._expected[name])
        elif not create:
            raise KeyMissingError(
                name, path, f"key {name!r} does not exist ({path}) and create=False"
            )
        else:
            key = self._create(name, path)
        self._cache[name] = key
        return key

    def _create(self, name: str, path: Path) -> bytes:
        size = _KEY_SIZES["token"] if name.endswith(".token") else 32
        key = os.urandom(size)
        self._ensure_dir()
        path.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
        self._write_wrapped(path, self._wrapper, key, self._aad(name))
        if self._record is not None:
            try:
                self._record(name, key_check_value(key))
            except BaseException:
                path.unlink()
                raise
            self._expected[name] = key_check_value(key)
        return key

    def _load(self, name: str) -> bytes:
        path = self._path(name)
        try:
            blob = json.loads(path.read_text())
            return self._wrapper.unwrap(base64.b64decode(blob["wrapped"]), self._aad(name))
        except (OSError, ValueError, KeyError, TypeError, binascii.Error, KeyVaultError):
            raise KeyChangedError(
                name,
                path,
                f"key {name!r} in {path} cannot be read with the current master key (corrupted, "
                f"altered, or wrapped under another master key): {_BACKUP_HINT}.",
            ) from None

    def _path(self, name: str) -> Path:
        if name.startswith("purposes/"):
            return self.keys_dir / f"{name}.key"
        if _NAME_RE.match(name) and name != MASTER:
            return self.keys_dir / f"{name}.key"
        raise KeyMissingError(
            name, None, f"unknown key name {name!r} in the warehouse's key checks"
        )

    @staticmethod
    def _aad(name: str) -> bytes:
        if name.startswith("purposes/"):
            purpose, kind = name[len("purposes/") :].rsplit(".", 1)
            return f"ledgerlens/purpose-key/v1|{purpose}|{kind}".encode()
        return f"ledgerlens/named-key/v1|{name}".encode()

    def _wrapped_names(self) -> list[str]:
        names = [
            p.name[: -len(".key")]
            for p in sorted(self.keys_dir.glob("*.key"))
            if p.name != "master.key"
        ]
        pdir = self.keys_dir / "purposes"
        if pdir.exists():
            names += [f"purposes/{p.name[: -len('.key')]}" for p in sorted(pdir.glob("*.key"))]
        return names

    def _resolve_master(self, explicit: bytes | str | None) -> tuple[bytes | None, str]:
        if explicit is not None:
            key = explicit if isinstance(explicit, bytes) else parse_master_key(explicit)
            if len(key) != 32:
                raise MasterKeyError("the master key must be 32 bytes")
            return key, "argument"
        env = os.environ.get(self._env_var)
        if env:
            return parse_master_key(env), f"${self._env_var}"
        path = self.keys_dir / "master.key"
        if path.exists():
            try:
                return parse_master_key(path.read_text()), "file"
            except MasterKeyError:
                # A damaged key file is a changed key, named as such (never a hint to set the
                # environment variable the file did not come from).
                raise MasterKeyChangedError(
                    MASTER,
                    path,
                    f"{path} is not a readable master key (damaged or edited): restore it from "
                    f"your backup, or set {self._env_var} to the original key; nothing was written",
                ) from None
        return None, "none"

    def _read_kcv(self) -> str | None:
        path = self.keys_dir / "master.kcv"
        return path.read_text().strip() if path.exists() else None

    def _has_wrapped_keys(self) -> bool:
        return self.keys_dir.exists() and bool(self._wrapped_names())

    def _ensure_dir(self) -> None:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)

    def _write_wrapped(self, path: Path, wrapper: KeyWrapper, key: bytes, aad: bytes) -> None:
        blob = {
            "master_fingerprint": wrapper.fingerprint,
            "wrapped": base64.b64encode(wrapper.wrap(key, aad)).decode(),
        }
        self._write_secret(path, json.dumps(blob).encode() + b"\n")

    @staticmethod
    def _write_secret(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


# -- the warehouse's record of key-check values ----------------------------------------------


@dataclass(frozen=True)
class KeyCheckReport:
    """Keys verified against the warehouse's record, and keys recorded for the first time."""

    verified: tuple[str, ...]
    recorded: tuple[str, ...]


def recorded_key_checks(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Key name -> key-check value recorded in ``vault.key_checks`` (empty when the table does
    not exist yet). Read-only: creates nothing."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'vault' AND table_name = 'key_checks'"
    ).fetchall()
    if not exists or not exists[0][0]:
        return {}
    rows = con.execute(f"SELECT name, kcv FROM {KEY_CHECKS_TABLE}").fetchall()
    return {str(n): str(k) for n, k in rows}


def record_key(
    con: duckdb.DuckDBPyConnection, name: str, kcv: str, *, replace: bool = False
) -> None:
    """Record ``name``'s key-check value. A different value already recorded is refused with
    :class:`KeyChangedError` unless ``replace`` (master key rotation)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS vault")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {KEY_CHECKS_TABLE} (
            name VARCHAR PRIMARY KEY, kcv VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)"""
    )
    row = con.execute(f"SELECT kcv FROM {KEY_CHECKS_TABLE} WHERE name = ?", [name]).fetchall()
    now = datetime.now(UTC).replace(tzinfo=None)
    if not row:
        con.execute(f"INSERT INTO {KEY_CHECKS_TABLE} VALUES (?, ?, ?)", [name, kcv, now])
    elif row[0][0] != kcv:
        if not replace:
            raise KeyChangedError(
                name,
                None,
                f"the warehouse already recorded another key {name!r} (key-check value "
                f"{row[0][0]}, now {kcv}): refusing to replace it; only `ledgerlens keys rotate` "
                "replaces the master key",
            )
        con.execute(
            f"UPDATE {KEY_CHECKS_TABLE} SET kcv = ?, created_at = ? WHERE name = ?",
            [kcv, now, name],
        )


def check_keys(con: duckdb.DuckDBPyConnection, keyvault: KeyVault) -> KeyCheckReport:
    """Verify every key the warehouse recorded (refused before anything is written), then record
    the key-check value of every key the key vault holds that the warehouse has not seen yet."""
    recorded = recorded_key_checks(con)
    keyvault.verify(recorded)
    present = keyvault.key_checks()
    new = sorted(n for n in present if n not in recorded)
    for name in new:
        record_key(con, name, present[name])
    return KeyCheckReport(tuple(sorted(recorded)), tuple(new))


def _has_vault_data(con: duckdb.DuckDBPyConnection) -> bool:
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'vault'"
        ).fetchall()
    }
    for table in ("data_keys", "erasure_requests", "subjects"):
        if table in tables and con.execute(f"SELECT count(*) FROM vault.{table}").fetchall()[0][0]:
            return True
    return False


def open_keyvault(
    con: duckdb.DuckDBPyConnection,
    keys_dir: str | os.PathLike[str],
    master_key: bytes | str | None = None,
    *,
    env_var: str = MASTER_KEY_ENV,
) -> LocalFileKeyVault:
    """The key vault for the warehouse behind ``con``: every recorded key is verified first
    (missing or changed -> :class:`KeyCheckError`, nothing written, no master key generated);
    then keys not recorded yet are recorded, and every key created later through this vault is
    recorded in ``vault.key_checks`` on ``con`` as it is created (keep ``con`` open while the
    vault is used, or call :func:`check_keys` on a later connection)."""
    recorded = recorded_key_checks(con)
    kv = LocalFileKeyVault(
        keys_dir,
        master_key,
        env_var=env_var,
        expected=recorded,
        existing_warehouse=bool(recorded) or _has_vault_data(con),
        record=lambda name, kcv: record_key(con, name, kcv, replace=name == MASTER),
    )
    check_keys(con, kv)
    return kv
