"""Key management: a master key that wraps data keys and per-purpose keys.

:class:`KeyVault` is the interface (a KMS or HSM could implement it); :class:`LocalFileKeyVault`
keeps keys in a local directory (``$LEDGERLENS_HOME/keys``, mode 0700, files 0600):

- ``master.key``  the master key (only when it was generated here; when it comes from the
  environment variable ``LEDGERLENS_MASTER_KEY`` (base64 or hex, 32 bytes) nothing is written);
- ``master.kcv``  a key check value (HMAC of a constant under the master key) that identifies the
  master key a vault was initialised with; its presence marks the vault as *existing*;
- ``purposes/<purpose>.<kind>.key`` per-purpose keys (HMAC pseudonym keys, AES-SIV token keys),
  random, stored wrapped by the master key, so that master key rotation does not change pseudonyms.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "MASTER_KEY_ENV",
    "KeyKind",
    "KeyVault",
    "KeyVaultError",
    "KeyWrapper",
    "LocalFileKeyVault",
    "MasterKeyError",
    "parse_master_key",
    "validate_purpose_name",
]

MASTER_KEY_ENV = "LEDGERLENS_MASTER_KEY"
KeyKind = Literal["hmac", "token"]
_KEY_SIZES: dict[str, int] = {"hmac": 32, "token": 64}  # token: AES-256-SIV needs 512 bits
_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NONCE = 12


class KeyVaultError(RuntimeError):
    """A key could not be read, unwrapped or written."""


class MasterKeyError(KeyVaultError):
    """The master key is missing, malformed, or not the one the vault was created with."""


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
    def purpose_key(self, purpose: str, kind: KeyKind = "hmac") -> bytes:
        """The key of ``kind`` for ``purpose``, created on first use."""

    @abstractmethod
    def rotate(
        self,
        new_master: bytes | None,
        rewrap: Callable[[KeyWrapper, KeyWrapper], None] | None = None,
    ) -> bytes:
        """Switch to a new master key (random if None); ``rewrap(old, new)`` lets stores outside
        the key vault re-wrap their data keys before the switch is committed. Returns the new key.
        """


class LocalFileKeyVault(KeyVault):
    """Keys in a local directory; see the module docstring for the layout."""

    def __init__(
        self,
        keys_dir: str | os.PathLike[str],
        master_key: bytes | str | None = None,
        *,
        env_var: str = MASTER_KEY_ENV,
        create: bool = True,
    ) -> None:
        self.keys_dir = Path(keys_dir)
        self._env_var = env_var
        self._cache: dict[tuple[str, str], bytes] = {}
        existing_kcv = self._read_kcv()
        initialised = existing_kcv is not None or self._has_purpose_keys()
        master, source = self._resolve_master(master_key)
        if master is None:
            if initialised:
                raise MasterKeyError(
                    f"the key vault in {self.keys_dir} already exists (master key fingerprint "
                    f"{(existing_kcv or '?')[:16]}) but no master key was provided: set "
                    f"{env_var} or restore {self.keys_dir / 'master.key'}. Refusing to generate a "
                    "new master key over an existing vault."
                )
            if not create:
                raise MasterKeyError(f"no key vault in {self.keys_dir} and create=False")
            master = os.urandom(32)
            source = "generated"
            self._ensure_dir()
            self._write_secret(self.keys_dir / "master.key", base64.b64encode(master) + b"\n")
        if existing_kcv is not None and not hmac.compare_digest(existing_kcv, _kcv(master)):
            raise MasterKeyError(
                f"wrong master key for the key vault in {self.keys_dir} (from {source}): its "
                f"fingerprint {_kcv(master)[:16]} does not match the vault's "
                f"{existing_kcv[:16]}"
            )
        if existing_kcv is None and initialised:
            raise MasterKeyError(
                f"the key vault in {self.keys_dir} has purpose keys but no master.kcv: refusing"
            )
        self.master_source = source
        self._wrapper = KeyWrapper(master)
        if existing_kcv is None:
            self._ensure_dir()
            self._write_secret(self.keys_dir / "master.kcv", self._wrapper.kcv.encode() + b"\n")

    # -- KeyVault ---------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self._wrapper.fingerprint

    def wrapper(self) -> KeyWrapper:
        return self._wrapper

    def purpose_key(self, purpose: str, kind: KeyKind = "hmac") -> bytes:
        validate_purpose_name(purpose)
        if kind not in _KEY_SIZES:
            raise ValueError(f"unknown key kind {kind!r}")
        cached = self._cache.get((purpose, kind))
        if cached is not None:
            return cached
        path = self._purpose_path(purpose, kind)
        aad = self._purpose_aad(purpose, kind)
        if path.exists():
            blob = json.loads(path.read_text())
            key = self._wrapper.unwrap(base64.b64decode(blob["wrapped"]), aad)
        else:
            key = os.urandom(_KEY_SIZES[kind])
            self._ensure_dir()
            (self.keys_dir / "purposes").mkdir(mode=0o700, exist_ok=True)
            os.chmod(self.keys_dir / "purposes", 0o700)
            self._write_purpose(path, self._wrapper, key, aad)
        self._cache[(purpose, kind)] = key
        return key

    def rotate(
        self,
        new_master: bytes | None,
        rewrap: Callable[[KeyWrapper, KeyWrapper], None] | None = None,
    ) -> bytes:
        new_key = new_master if new_master is not None else os.urandom(32)
        new = KeyWrapper(new_key)
        old = self._wrapper
        # Unwrap every purpose key with the old master before anything changes.
        purpose_keys: list[tuple[Path, bytes, bytes]] = []
        pdir = self.keys_dir / "purposes"
        if pdir.exists():
            for path in sorted(pdir.glob("*.key")):
                purpose, kind = path.name[: -len(".key")].rsplit(".", 1)
                aad = self._purpose_aad(purpose, kind)
                blob = json.loads(path.read_text())
                purpose_keys.append((path, old.unwrap(base64.b64decode(blob["wrapped"]), aad), aad))
        if rewrap is not None:
            rewrap(old, new)
        for path, key, aad in purpose_keys:
            self._write_purpose(path, new, key, aad)
        if self.master_source in ("generated", "file"):
            self._write_secret(self.keys_dir / "master.key", base64.b64encode(new_key) + b"\n")
        self._write_secret(self.keys_dir / "master.kcv", new.kcv.encode() + b"\n")
        self._wrapper = new
        return new_key

    # -- helpers ----------------------------------------------------------------------------
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
            return parse_master_key(path.read_text()), "file"
        return None, "none"

    def _read_kcv(self) -> str | None:
        path = self.keys_dir / "master.kcv"
        return path.read_text().strip() if path.exists() else None

    def _has_purpose_keys(self) -> bool:
        pdir = self.keys_dir / "purposes"
        return pdir.exists() and any(pdir.glob("*.key"))

    def _ensure_dir(self) -> None:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)

    def _purpose_path(self, purpose: str, kind: str) -> Path:
        return self.keys_dir / "purposes" / f"{purpose}.{kind}.key"

    @staticmethod
    def _purpose_aad(purpose: str, kind: str) -> bytes:
        return f"ledgerlens/purpose-key/v1|{purpose}|{kind}".encode()

    def _write_purpose(self, path: Path, wrapper: KeyWrapper, key: bytes, aad: bytes) -> None:
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
