"""The holder's secret key: generated once, kept in a directory only the holder owns.

Layout of the holder directory (``$LEDGERLENS_HOME/keys/he/`` by convention), mode 0700:
``<scheme>.secret-context`` (TenSEAL context with the secret key, 0600) and ``<scheme>.key.json``
(key id, scheme, parameters hash; 0600). ``rounds/`` holds the holder's record of each round.

Invariants: a key is never overwritten (rotating is a deliberate delete); the key id is the
SHA-256 of the secret context file, rechecked on every load, so a swapped or damaged key file is
refused; nothing here ever writes the secret into a directory that is sent to a scorer.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import tenseal as ts

from privacy.he.errors import HEError
from privacy.he.params import (
    DEFAULT_SCHEME,
    Scheme,
    context_matches,
    new_secret_context,
    public_context_bytes,
    scheme_named,
)


@dataclass(frozen=True)
class HolderKey:
    scheme: Scheme
    context: ts.Context  # private: holds the secret key
    key_id: str

    @property
    def public_context(self) -> bytes:
        return public_context_bytes(self.context)

    def secret_bytes(self) -> bytes:
        return bytes(
            self.context.serialize(
                save_public_key=False,
                save_secret_key=True,
                save_galois_keys=False,
                save_relin_keys=False,
            )
        )


def _key_id(secret: bytes) -> str:
    return hashlib.sha256(b"ledgerlens-he-key\0" + secret).hexdigest()[:32]


def generate_key(scheme: str | Scheme = DEFAULT_SCHEME) -> HolderKey:
    """A fresh key in memory (an ephemeral round, a test); ``keygen`` persists one."""
    s = scheme if isinstance(scheme, Scheme) else scheme_named(scheme)
    ctx = new_secret_context(s)
    secret = bytes(
        ctx.serialize(
            save_public_key=False,
            save_secret_key=True,
            save_galois_keys=False,
            save_relin_keys=False,
        )
    )
    return HolderKey(s, ctx, _key_id(secret))


def key_paths(holder_dir: Path, scheme: Scheme) -> tuple[Path, Path]:
    return holder_dir / f"{scheme.name}.secret-context", holder_dir / f"{scheme.name}.key.json"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def keygen(holder_dir: Path, scheme: str = DEFAULT_SCHEME) -> HolderKey:
    """Create and store the holder's key for ``scheme``; refuses to replace an existing one."""
    holder_dir = Path(holder_dir)
    s = scheme_named(scheme)
    secret_path, meta_path = key_paths(holder_dir, s)
    if secret_path.exists() or meta_path.exists():
        raise HEError(
            str(secret_path),
            "a key already exists",
            "keep using it, or delete both key files deliberately to rotate (old rounds then "
            "cannot be decrypted)",
        )
    holder_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(holder_dir, 0o700)
    key = generate_key(s)
    _write_private(secret_path, key.secret_bytes())
    meta = {"key_id": key.key_id, "scheme": s.name, "params_hash": s.params_hash}
    _write_private(meta_path, json.dumps(meta, indent=1).encode())
    return key


def load_key(holder_dir: Path, scheme: str = DEFAULT_SCHEME) -> HolderKey:
    s = scheme_named(scheme)
    secret_path, meta_path = key_paths(Path(holder_dir), s)
    if not secret_path.exists():
        raise HEError(
            str(secret_path), "no key", "run `ledgerlens he keygen` first (as the holder)"
        )
    secret = secret_path.read_bytes()
    try:
        meta = json.loads(meta_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise HEError(
            str(meta_path), "key metadata missing or unreadable", "restore it from backup"
        ) from None
    if meta.get("key_id") != _key_id(secret):
        raise HEError(
            str(secret_path),
            "the key file does not match its recorded key id (damaged or swapped)",
            "restore the original key file; never regenerate over an existing key",
        )
    if os.stat(secret_path).st_mode & 0o077:
        raise HEError(
            str(secret_path), "is readable by others", "chmod 600 it (and 700 its directory)"
        )
    try:
        ctx = ts.context_from(secret, n_threads=1)
    except Exception as e:  # TenSEAL raises bare ValueError/RuntimeError on bad bytes
        raise HEError(str(secret_path), f"cannot be read ({type(e).__name__})", "restore it") from e
    if not ctx.is_private():
        raise HEError(
            str(secret_path), f"is not a {s.name} secret context", "restore the original file"
        )
    if not context_matches(ctx, s):
        raise HEError(
            str(secret_path),
            f"was made for other {s.name} parameters (an earlier ledgerlens: {s.name} is now "
            f"{s.params_hash})",
            "rotate deliberately: decrypt any open rounds with the old version, then delete both "
            "key files and run `ledgerlens he keygen`",
        )
    return HolderKey(s, ctx, meta["key_id"])
