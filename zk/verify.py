"""The offline verifier: one function for every document this package writes.

:func:`verify_file` runs the checks below in this order and stops at the first that fails; the
:class:`VerificationReport` names it. Checks that do not apply to a document kind are skipped.

``format``           canonical RFC 8785 bytes, a known ``type``, every required field well-formed
``issuer_key``       the trusted key: ``issuer_key`` if given, else ``<home>/out/issuer/issuer_key.json``;
                     a key, id or URL inside the document is never used to verify it
``signature``        the issuer's BLS signature over the (embedded) signed document
``validity_window``  ``validFrom <= now < validUntil``
``revocation``       the credential's bit in an issuer-signed, unexpired Bitstring Status List
``context``          a presentation's nonce and audience equal the verifier's own
``range_proof``      the "score >= t" proof against the signed commitment
``merkle_inclusion`` the rows and their multiproof (version 1: every row's audit path) lead to the
                     signed snapshot root
``binding_hashes``   a release's manifest file re-hashes to the signed digest and every file it
                     lists re-hashes to its entry; a presentation's holder is the credential
                     subject

The module imports only the standard library, ``rfc8785`` and the BLS backends, so a lender or a
data buyer can install the verifier alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from zk.attestations import INCLUSION_TYPE, LEAF_ENCODING, RELEASE_TYPE, SNAPSHOT_TYPE, file_digest
from zk.backends import Backend, BackendName, resolve_backend
from zk.credentials import SCORE_CREDENTIAL_TYPE
from zk.envelope import (
    FormatError,
    check_signature,
    hex_decode,
    mb_decode,
    parse_document,
    parse_time,
    read_document,
)
from zk.merkle import verify_inclusion, verify_multiproof
from zk.presentation import PRESENTATION_TYPE, verify_threshold_proof
from zk.signatures import IssuerKeyError, IssuerPublicKey, issuer_key_path, load_issuer_public_key
from zk.statuslist import StatusList

__all__ = [
    "CHECKS",
    "STATUS_LIST_FILE",
    "Check",
    "VerificationReport",
    "status_list_path",
    "verify_document",
    "verify_file",
]

_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")

CHECKS = (
    "format",
    "issuer_key",
    "signature",
    "validity_window",
    "revocation",
    "context",
    "range_proof",
    "merkle_inclusion",
    "binding_hashes",
)
STATUS_LIST_FILE = Path("out") / "issuer" / "status_list.json"
STATUS_LIST_TYPE = "BitstringStatusListCredential"
Kind = Literal[
    "score-credential",
    "score-presentation",
    "status-list",
    "snapshot-commitment",
    "snapshot-inclusion",
    "release-attestation",
    "unknown",
]
_KINDS: dict[str, Kind] = {
    SCORE_CREDENTIAL_TYPE: "score-credential",
    PRESENTATION_TYPE: "score-presentation",
    STATUS_LIST_TYPE: "status-list",
    SNAPSHOT_TYPE: "snapshot-commitment",
    INCLUSION_TYPE: "snapshot-inclusion",
    RELEASE_TYPE: "release-attestation",
}
_INDEX_RE = re.compile(r"^(0|[1-9][0-9]{0,9})$")


def status_list_path(home: Path | str) -> Path:
    """Where the issuer publishes its status list: ``<home>/out/issuer/status_list.json``."""
    return Path(home) / STATUS_LIST_FILE


@dataclass(frozen=True)
class Check:
    name: str
    status: Literal["pass", "fail", "skip"]
    detail: str


@dataclass(frozen=True)
class VerificationReport:
    """Outcome of :func:`verify_file`: every check run, in order; ``failed`` is the first failure."""

    path: str
    kind: Kind
    checks: tuple[Check, ...]
    issuer_key: str

    @property
    def failed(self) -> str | None:
        return next((c.name for c in self.checks if c.status == "fail"), None)

    @property
    def valid(self) -> bool:
        return self.failed is None and any(c.status == "pass" for c in self.checks)

    def summary(self) -> str:
        head = "VALID" if self.valid else f"INVALID: {self.failed} check failed"
        lines = [f"{head} - {self.kind} {self.path}", f"issuer key: {self.issuer_key}"]
        lines += [f"  {c.status:4} {c.name}: {c.detail}" for c in self.checks]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "valid": self.valid,
            "failed": self.failed,
            "issuer_key": self.issuer_key,
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail} for c in self.checks
            ],
        }


class _Failed(Exception):
    pass


@dataclass
class _Run:
    checks: list[Check] = field(default_factory=list)

    def passed(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, "pass", detail))

    def skip(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, "skip", detail))

    def fail(self, name: str, detail: str) -> _Failed:
        self.checks.append(Check(name, "fail", detail))
        return _Failed(name)

    def require(self, name: str, ok: bool, detail: str) -> None:
        if not ok:
            raise self.fail(name, detail)
        self.passed(name, detail)


def verify_file(
    path: Path | str,
    *,
    nonce: str | None = None,
    audience: str | None = None,
    issuer_key: Path | str | bytes | None = None,
    status_list: Path | str | None = None,
    home: Path | str | None = None,
    now: datetime | None = None,
    backend: Backend[Any] | BackendName | None = None,
) -> VerificationReport:
    """Verify one attestation file written by this package (see the module docstring)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return VerificationReport(
            str(path), "unknown", (Check("format", "fail", f"cannot read: {exc.strerror}"),), "none"
        )
    return verify_document(
        data,
        where=str(path),
        base_dir=path.parent,
        nonce=nonce,
        audience=audience,
        issuer_key=issuer_key,
        status_list=status_list,
        home=home,
        now=now,
        backend=backend,
    )


def verify_document(
    data: bytes,
    *,
    where: str = "document",
    base_dir: Path | None = None,
    nonce: str | None = None,
    audience: str | None = None,
    issuer_key: Path | str | bytes | None = None,
    status_list: Path | str | None = None,
    home: Path | str | None = None,
    now: datetime | None = None,
    backend: Backend[Any] | BackendName | None = None,
) -> VerificationReport:
    """:func:`verify_file` on bytes; ``base_dir`` is where a release's manifest is looked for."""
    be = resolve_backend(backend)
    moment = now or datetime.now(UTC)
    run = _Run()
    kind: Kind = "unknown"
    key_used = "none"
    try:
        try:
            doc = parse_document(data, where)
            kind = _kind(doc)
            signed = _validate(kind, doc)
        except (FormatError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise run.fail("format", _format_message(exc)) from None
        run.passed("format", f"canonical {kind}")
        trusted = _trusted_key(run, issuer_key, home, be)
        key_used = f"{trusted.key_id} from {trusted.source}"
        ok, detail = check_signature(signed, trusted, be)
        run.require("signature", ok, detail)
        _validity(run, signed, moment)
        _revocation(run, kind, signed, trusted, status_list, home, moment, be)
        _context(run, kind, doc, nonce, audience)
        if kind == "score-presentation":
            ok, detail = verify_threshold_proof(doc, be)
            run.require("range_proof", ok, detail)
        else:
            run.skip("range_proof", "no range proof in this document")
        _inclusion(run, kind, doc)
        _binding(run, kind, doc, base_dir)
    except _Failed:
        done = {c.name for c in run.checks}
        run.checks += [
            Check(n, "skip", "not run: an earlier check failed") for n in CHECKS if n not in done
        ]
    return VerificationReport(where, kind, tuple(run.checks), key_used)


def _format_message(exc: Exception) -> str:
    if isinstance(exc, FormatError):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return f"malformed document: {exc}"


def _kind(doc: dict[str, Any]) -> Kind:
    types = doc.get("type")
    names = [types] if isinstance(types, str) else types
    if not isinstance(names, list):
        raise FormatError("'type' must be a string or a list of strings")
    kinds = {_KINDS[t] for t in names if isinstance(t, str) and t in _KINDS}
    if len(kinds) != 1:
        raise FormatError(f"'type' must name exactly one of {sorted(_KINDS)}")
    return kinds.pop()


def _obj(value: Any, field_name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"{field_name} must be an object")
    return value


def _str(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value:
        raise FormatError(f"{field_name} must be a non-empty string")
    return value


def _int(value: Any, field_name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise FormatError(f"{field_name} must be an integer >= {low}")
    return int(value)


def _validate_signed(doc: dict[str, Any], kind: str) -> None:
    ctx = doc.get("@context")
    if not isinstance(ctx, list) or not ctx or ctx[0] != "https://www.w3.org/ns/credentials/v2":
        raise FormatError(f"{kind}: '@context' must start with the VC 2.0 context")
    _str(doc.get("issuer"), "issuer")
    _str(doc.get("id"), "id")
    parse_time(doc.get("validFrom"), "validFrom")
    if "validUntil" in doc:
        parse_time(doc["validUntil"], "validUntil")
    _obj(doc.get("credentialSubject"), "credentialSubject")
    _obj(doc.get("proof"), "proof")


def _validate_credential(cred: dict[str, Any]) -> None:
    _validate_signed(cred, "score credential")
    if "validUntil" not in cred:
        raise FormatError("a score credential needs validUntil")
    subject = cred["credentialSubject"]
    _str(subject.get("id"), "credentialSubject.id")
    score = _obj(subject.get("score"), "credentialSubject.score")
    hex_decode(score.get("commitment"), "credentialSubject.score.commitment", 48)
    _int(score.get("bits"), "credentialSubject.score.bits", 1)
    model = _obj(subject.get("model"), "credentialSubject.model")
    _str(model.get("version"), "credentialSubject.model.version")
    _str(model.get("hash"), "credentialSubject.model.hash")
    hex_decode(subject.get("snapshotRoot"), "credentialSubject.snapshotRoot", 32)
    status = _obj(cred.get("credentialStatus"), "credentialStatus")
    if (
        status.get("type") != "BitstringStatusListEntry"
        or status.get("statusPurpose") != "revocation"
    ):
        raise FormatError("credentialStatus must be a revocation BitstringStatusListEntry")
    index = _str(status.get("statusListIndex"), "credentialStatus.statusListIndex")
    if not _INDEX_RE.match(index):
        raise FormatError("credentialStatus.statusListIndex must be a decimal integer string")
    list_id = _str(status.get("statusListCredential"), "credentialStatus.statusListCredential")
    if status.get("id") != f"{list_id}#{index}":
        raise FormatError("credentialStatus.id must be '<statusListCredential>#<statusListIndex>'")


def _validate(kind: Kind, doc: dict[str, Any]) -> dict[str, Any]:
    """Check the structure of ``doc``; return the embedded document the issuer signed."""
    if kind == "score-credential":
        _validate_credential(doc)
        return doc
    if kind == "score-presentation":
        creds = doc.get("verifiableCredential")
        if not isinstance(creds, list) or len(creds) != 1:
            raise FormatError("verifiableCredential must hold exactly one score credential")
        cred = _obj(creds[0], "verifiableCredential[0]")
        if _kind(cred) != "score-credential":
            raise FormatError("verifiableCredential[0] must be a score credential")
        _validate_credential(cred)
        _str(doc.get("id"), "id")
        proof = _obj(doc.get("proof"), "proof")
        _str(proof.get("challenge"), "proof.challenge")
        _str(proof.get("domain"), "proof.domain")
        parse_time(proof.get("created"), "proof.created")
        _obj(proof.get("statement"), "proof.statement")
        _str(proof.get("proofValue"), "proof.proofValue")
        return cred
    if kind == "snapshot-inclusion":
        version = doc.get("version")
        if type(version) is not int or version not in (1, 2):
            raise FormatError("a snapshot inclusion document must have version 1 or 2")
        snap = _obj(doc.get("snapshot"), "snapshot")
        if _kind(snap) != "snapshot-commitment":
            raise FormatError("snapshot must be a snapshot commitment")
        _validate(_kind(snap), snap)
        leaves = doc.get("leaves")
        if not isinstance(leaves, list) or not leaves:
            raise FormatError("leaves must be a non-empty list")
        if version == 2:
            _validate_multiproof(doc, leaves)
            return snap
        for i, item in enumerate(leaves):
            item = _obj(item, f"leaves[{i}]")
            _int(item.get("index"), f"leaves[{i}].index")
            mb_decode(item.get("leaf"), f"leaves[{i}].leaf")
            path = item.get("path")
            if not isinstance(path, list):
                raise FormatError(f"leaves[{i}].path must be a list")
            for j, p in enumerate(path):
                hex_decode(p, f"leaves[{i}].path[{j}]", 32)
        return snap
    _validate_signed(doc, kind)
    subject = doc["credentialSubject"]
    if kind == "status-list":
        if "validUntil" not in doc:
            raise FormatError("a status list needs validUntil (how long it may be trusted)")
        if (
            subject.get("type") != "BitstringStatusList"
            or subject.get("statusPurpose") != "revocation"
        ):
            raise FormatError("credentialSubject must be a revocation BitstringStatusList")
        StatusList.decode(subject.get("encodedList"))
    elif kind == "snapshot-commitment":
        hex_decode(subject.get("merkleRoot"), "credentialSubject.merkleRoot", 32)
        _int(subject.get("treeSize"), "credentialSubject.treeSize")
        if subject.get("leafEncoding") != LEAF_ENCODING:
            raise FormatError(f"credentialSubject.leafEncoding must be {LEAF_ENCODING}")
    elif kind == "release-attestation":
        manifest = _obj(subject.get("manifest"), "credentialSubject.manifest")
        name = _str(manifest.get("path"), "credentialSubject.manifest.path")
        if "/" in name or "\\" in name or name in (".", ".."):
            raise FormatError("credentialSubject.manifest.path must be a bare file name")
        _str(manifest.get("digest"), "credentialSubject.manifest.digest")
        snapshot = _obj(subject.get("snapshot"), "credentialSubject.snapshot")
        hex_decode(snapshot.get("merkleRoot"), "credentialSubject.snapshot.merkleRoot", 32)
        privacy = _obj(subject.get("privacy"), "credentialSubject.privacy")
        rho = privacy.get("rhoCharged")
        if isinstance(rho, bool) or not isinstance(rho, int | float) or rho < 0:
            raise FormatError("credentialSubject.privacy.rhoCharged must be a number >= 0")
        _str(privacy.get("ledgerEntryHash"), "credentialSubject.privacy.ledgerEntryHash")
        _str(subject.get("codeVersion"), "credentialSubject.codeVersion")
    return doc


def _validate_multiproof(doc: dict[str, Any], leaves: list[Any]) -> None:
    """Version 2: ``indices`` (one per leaf), ``leaves`` and ``multiproof`` (32-byte nodes)."""
    indices = doc.get("indices")
    if not isinstance(indices, list) or len(indices) != len(leaves):
        raise FormatError("indices must be a list with one index per leaf")
    for i, index in enumerate(indices):
        _int(index, f"indices[{i}]")
    for i, leaf in enumerate(leaves):
        mb_decode(leaf, f"leaves[{i}]")
    if len(mb_decode(doc.get("multiproof"), "multiproof")) % 32:
        raise FormatError("multiproof must hold whole 32-byte nodes")


def _trusted_key(
    run: _Run, issuer_key: Path | str | bytes | None, home: Path | str | None, be: Backend[Any]
) -> IssuerPublicKey:
    if issuer_key is None:
        if home is None:
            raise run.fail(
                "issuer_key", "no issuer key given and no home to find the published one"
            )
        issuer_key = issuer_key_path(home)
        if not Path(issuer_key).exists():
            raise run.fail(
                "issuer_key",
                f"no issuer key given and none published at {issuer_key}: pass the issuer's key",
            )
    try:
        trusted = load_issuer_public_key(issuer_key, be)
    except IssuerKeyError as exc:
        raise run.fail("issuer_key", str(exc)) from None
    run.passed("issuer_key", f"trusting issuer key {trusted.key_id} from {trusted.source}")
    return trusted


def _validity(run: _Run, signed: dict[str, Any], now: datetime) -> None:
    start = parse_time(signed["validFrom"], "validFrom")
    if now < start:
        raise run.fail("validity_window", f"not valid before {signed['validFrom']}")
    if "validUntil" in signed:
        end = parse_time(signed["validUntil"], "validUntil")
        if now >= end:
            raise run.fail("validity_window", f"expired at {signed['validUntil']}")
        run.passed("validity_window", f"valid {signed['validFrom']} to {signed['validUntil']}")
    else:
        run.passed("validity_window", f"valid from {signed['validFrom']} (no expiry)")


def _revocation(
    run: _Run,
    kind: Kind,
    signed: dict[str, Any],
    trusted: IssuerPublicKey,
    status_list: Path | str | None,
    home: Path | str | None,
    now: datetime,
    be: Backend[Any],
) -> None:
    if kind not in ("score-credential", "score-presentation"):
        run.skip("revocation", "this document carries no credentialStatus")
        return
    status = signed["credentialStatus"]
    if status_list is None:
        if home is None or not status_list_path(home).exists():
            raise run.fail(
                "revocation",
                "no status list given or published: fetch the issuer's current status list",
            )
        status_list = status_list_path(home)
    try:
        doc = read_document(Path(status_list))
        if _kind(doc) != "status-list":
            raise FormatError(f"{status_list} is not a {STATUS_LIST_TYPE}")
        _validate("status-list", doc)
    except (FormatError, KeyError, TypeError, ValueError) as exc:
        raise run.fail("revocation", f"status list unusable: {_format_message(exc)}") from None
    ok, detail = check_signature(doc, trusted, be)
    if not ok:
        raise run.fail("revocation", f"status list signature: {detail}")
    if doc["id"] != status["statusListCredential"]:
        raise run.fail("revocation", f"the status list given is {doc['id']}, not the credential's")
    if (
        not parse_time(doc["validFrom"], "validFrom")
        <= now
        < parse_time(doc["validUntil"], "validUntil")
    ):
        raise run.fail(
            "revocation", f"the status list is not current (valid until {doc['validUntil']})"
        )
    bits = StatusList.decode(doc["credentialSubject"]["encodedList"])
    index = int(status["statusListIndex"])
    if index >= bits.size:
        raise run.fail("revocation", f"status index {index} is outside the status list")
    if bits.is_set(index):
        raise run.fail("revocation", f"revoked (bit {index} of {doc['id']} is set)")
    run.passed(
        "revocation",
        f"not revoked (bit {index} of {doc['id']}, list valid until {doc['validUntil']})",
    )


def _context(
    run: _Run, kind: Kind, doc: dict[str, Any], nonce: str | None, audience: str | None
) -> None:
    if kind != "score-presentation":
        run.skip("context", "not a presentation: no nonce or audience to check")
        return
    proof = doc["proof"]
    if nonce is None or audience is None:
        raise run.fail(
            "context", "a presentation is checked against your own nonce and audience: pass both"
        )
    if proof["challenge"] != nonce:
        raise run.fail("context", "the presentation was made for another nonce (replay?)")
    if proof["domain"] != audience:
        raise run.fail("context", "the presentation was made for another audience")
    run.passed("context", "nonce and audience match")


def _inclusion(run: _Run, kind: Kind, doc: dict[str, Any]) -> None:
    if kind != "snapshot-inclusion":
        run.skip("merkle_inclusion", "no inclusion proof in this document")
        return
    subject = doc["snapshot"]["credentialSubject"]
    root, size = bytes.fromhex(subject["merkleRoot"]), subject["treeSize"]
    where = f"snapshot {subject['snapshotId']}"
    failure = (_multiproof_failure if doc["version"] == 2 else _path_failure)(doc, size, root)
    if failure:
        raise run.fail("merkle_inclusion", f"{failure} is not in {where}")
    run.passed("merkle_inclusion", f"{len(doc['leaves'])} rows in {where} of {size}")


def _multiproof_failure(doc: dict[str, Any], size: int, root: bytes) -> str:
    leaves = [mb_decode(leaf, f"leaves[{i}]") for i, leaf in enumerate(doc["leaves"])]
    nodes = mb_decode(doc["multiproof"], "multiproof")
    proof = [nodes[at : at + 32] for at in range(0, len(nodes), 32)]
    if verify_multiproof(leaves, doc["indices"], size, proof, root):
        return ""
    return f"the set of {len(leaves)} rows at the indices given, with {len(proof)} proof nodes,"


def _path_failure(doc: dict[str, Any], size: int, root: bytes) -> str:
    for i, item in enumerate(doc["leaves"]):
        leaf = mb_decode(item["leaf"], f"leaves[{i}].leaf")
        path = [bytes.fromhex(p) for p in item["path"]]
        if not verify_inclusion(leaf, item["index"], size, path, root):
            return f"leaves[{i}] (index {item['index']})"
    return ""


def _binding(run: _Run, kind: Kind, doc: dict[str, Any], base_dir: Path | None) -> None:
    if kind == "score-presentation":
        cred = doc["verifiableCredential"][0]
        run.require(
            "binding_hashes",
            doc.get("holder") == cred["credentialSubject"]["id"],
            "holder is the credential subject; the credential digest is bound in the proof",
        )
        return
    if kind != "release-attestation":
        run.skip("binding_hashes", "no external files bound by this document")
        return
    manifest = doc["credentialSubject"]["manifest"]
    if base_dir is None:
        raise run.fail("binding_hashes", "no folder to find the release manifest in")
    target = base_dir / manifest["path"]
    if not target.is_file():
        raise run.fail("binding_hashes", f"the release manifest {target} is missing")
    if file_digest(target) != manifest["digest"]:
        raise run.fail(
            "binding_hashes", f"manifest {manifest['path']} differs from the signed digest"
        )
    try:
        files = json.loads(target.read_bytes())["files"]
    except (ValueError, KeyError, TypeError):
        raise run.fail(
            "binding_hashes", f"manifest {manifest['path']} lists no release files ('files')"
        ) from None
    if not isinstance(files, dict) or not files:
        raise run.fail("binding_hashes", f"manifest {manifest['path']} lists no release files")
    for name, digest in sorted(files.items()):
        if not isinstance(digest, str) or not _FILE_NAME_RE.match(name) or name == target.name:
            raise run.fail("binding_hashes", f"manifest entry {name!r} is not a bare file name")
        if not (base_dir / name).is_file():
            raise run.fail("binding_hashes", f"release file {name} is missing")
        if file_digest(base_dir / name) != digest:
            raise run.fail("binding_hashes", f"release file {name} differs from the manifest")
    run.passed(
        "binding_hashes",
        f"manifest {manifest['path']} matches the signed digest, and its {len(files)} files "
        f"({', '.join(sorted(files))}) match the manifest",
    )
