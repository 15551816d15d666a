"""A small issuer world: a published issuer key, a status list, two credentials, a presentation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from zk_testworld import AUDIENCE, LIST_ID, NONCE, NOW, SECRET, T0, World

from zk.credentials import issue_score_credentials
from zk.envelope import write_document
from zk.presentation import prove_threshold
from zk.signatures import IssuerKey, issuer_key_path, write_issuer_public_key
from zk.statuslist import StatusList, status_list_credential
from zk.verify import status_list_path


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    home = tmp_path_factory.mktemp("zk-home")
    key = IssuerKey.from_secret(SECRET)
    write_issuer_public_key(issuer_key_path(home), key)
    issued = issue_score_credentials(
        [("ps_0a1b2c", 712), ("ps_3d4e5f", 650)],
        issuer=key,
        model_version="scorecard-2026.03.1",
        model_hash="sha256:" + "1f" * 32,
        snapshot_root="9e" * 32,
        valid_from=T0,
        valid_until=T0 + timedelta(days=90),
        status_list_id=LIST_ID,
        status_index_start=40,
    )
    status = StatusList()
    status.revoke(41)
    write_document(
        status_list_path(home),
        status_list_credential(
            status, issuer=key, list_id=LIST_ID, valid_from=T0, valid_until=T0 + timedelta(days=7)
        ),
    )
    subjects = home / "out" / "subjects"
    paths = []
    for cred, opening in zip(issued.credentials, issued.openings, strict=True):
        folder = subjects / cred["credentialSubject"]["id"].rsplit(":", 1)[1]
        paths.append(write_document(folder / "score_credential.json", cred))
        paths.append(write_document(folder / "score_opening.json", opening))
    presentation = home / "presentation.json"
    prove_threshold(paths[0], paths[1], 600, NONCE, AUDIENCE, out=presentation, now=NOW)
    return World(
        home,
        key,
        paths[0],
        paths[1],
        paths[2],
        paths[3],
        presentation,
        issued.credentials,
        issued.openings,
    )
