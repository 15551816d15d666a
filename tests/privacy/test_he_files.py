"""The exchanged files: a full keygen -> encrypt -> score -> decrypt round through directories, and
every bad input refused with an error naming the file (nothing released)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit.scorecard import PointsTable
from privacy.he.budget import QueryBudget
from privacy.he.encoding import split_model
from privacy.he.errors import HEError
from privacy.he.keys import keygen, load_key
from privacy.he.packing import packing_for
from privacy.he.params import BFV
from privacy.he.rounds import decrypt_round, encrypt_applicants, score_round
from privacy.he.synthetic import synthetic_applicants, synthetic_points_table


def _budget(root: Path) -> QueryBudget:
    return QueryBudget(root / "scorer" / "query_budget.jsonl", "wallet-a", limit=10**7)


def _score(points: Path, sent: Path, out: Path) -> Path:
    return score_round(points, sent, out, budget=_budget(sent.parent))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("he")
    points = synthetic_points_table(12, seed=1)
    model = root / "model"
    points.save(model)
    (model / "metadata.json").write_text(json.dumps({"model_version": "v-test"}))
    enc = split_model(points)[0]
    batch = BFV.slots * packing_for(BFV, enc.raw_min, enc.raw_max, "model").digits
    frame = synthetic_applicants(points, batch + 904, seed=2)  # two batches, the second part-full
    frame.insert(0, "applicant", [f"A{i:05d}" for i in range(len(frame))])
    frame["unused_extra_column"] = 1.0
    applicants = root / "applicants.parquet"
    frame.to_parquet(applicants)
    holder = root / "home" / "keys" / "he"
    keygen(holder, "bfv")
    sent = root / "sent"
    encrypt_applicants(applicants, model, sent, holder, id_column="applicant")
    scored = root / "scored"
    _score(model / "points_table.json", sent, scored)
    return {
        "root": root,
        "model": model,
        "applicants": applicants,
        "holder": holder,
        "sent": sent,
        "scored": scored,
    }


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_a_directory_round_releases_the_plaintext_scores_in_file_order(
    world: dict[str, Path],
) -> None:
    out = world["root"] / "scores.parquet"
    got = decrypt_round(world["scored"], out, world["holder"])
    frame = pd.read_parquet(world["applicants"])
    points = PointsTable.load(world["model"])
    np.testing.assert_array_equal(pd.read_parquet(out)["score"], points.score(frame))
    assert got["applicant"].tolist() == frame["applicant"].tolist()
    assert list(got.columns) == ["row", "applicant", "score"]


def test_the_sent_directory_holds_no_key_and_no_applicant_values(world: dict[str, Path]) -> None:
    names = sorted(p.name for p in world["sent"].iterdir())
    assert names == ["batch_00000.llhe", "batch_00001.llhe", "context.bin", "manifest.json"]
    blob = b"".join(p.read_bytes() for p in world["sent"].iterdir())
    assert b"A00001" not in blob and b"A04999" not in blob
    manifest = json.loads((world["sent"] / "manifest.json").read_text())
    n = len(pd.read_parquet(world["applicants"]))
    assert manifest["model_version"] == "v-test" and manifest["applicants"] == n
    assert manifest["packing"]["digits"] == 5  # 3 features of <= 60 points: 8-bit raw span
    size = sum(p.stat().st_size for p in world["sent"].iterdir())
    assert size < 2 * 12 * 33_200 + 4_000  # 2 batches x 12 seeded ciphertexts of ~33 KB
    assert size / n < 50  # bytes per applicant: 4 applicants share each slot


def test_key_files_are_private_to_the_holder(world: dict[str, Path]) -> None:
    holder = world["holder"]
    assert stat.S_IMODE(holder.stat().st_mode) == 0o700
    for p in holder.glob("bfv.*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    with pytest.raises(HEError, match="a key already exists"):
        keygen(holder, "bfv")


def test_a_key_readable_by_others_is_refused(world: dict[str, Path]) -> None:
    holder = _copy(world["holder"], world["root"] / "leaky")
    os.chmod(holder / "bfv.secret-context", 0o644)
    with pytest.raises(HEError, match="readable by others"):
        load_key(holder, "bfv")


def test_the_scorer_refuses_a_directory_holding_a_secret_key(world: dict[str, Path]) -> None:
    sent = _copy(world["sent"], world["root"] / "sent-with-key")
    shutil.copy(world["holder"] / "bfv.secret-context", sent)
    with pytest.raises(HEError, match="secret key sits in a scorer directory"):
        _score(world["model"], sent, world["root"] / "never")


def test_the_scorer_refuses_a_private_context_even_under_the_context_name(
    world: dict[str, Path],
) -> None:
    sent = _copy(world["sent"], world["root"] / "sent-private-ctx")
    secret = (world["holder"] / "bfv.secret-context").read_bytes()
    (sent / "context.bin").write_bytes(secret)
    m = json.loads((sent / "manifest.json").read_text())
    from privacy.he.wire import sha256

    m["context"]["sha256"] = sha256(secret)  # a careless holder that re-hashed it
    (sent / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(HEError, match=r"context\.bin: holds a secret key"):
        _score(world["model"], sent, world["root"] / "never2")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_tampered_or_truncated_batch_is_refused_naming_it(
    world: dict[str, Path], damage: str
) -> None:
    sent = _copy(world["sent"], world["root"] / f"sent-{damage}")
    batch = sent / "batch_00001.llhe"
    data = bytearray(batch.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        del data[-1000:]
    batch.write_bytes(bytes(data))
    with pytest.raises(HEError, match=r"batch_00001\.llhe: does not match the SHA-256"):
        _score(world["model"], sent, world["root"] / f"never-{damage}")


def test_a_re_hashed_tampered_batch_is_still_refused_by_its_own_header(
    world: dict[str, Path],
) -> None:
    sent = _copy(world["sent"], world["root"] / "sent-rehashed")
    batch = sent / "batch_00000.llhe"
    data = bytearray(batch.read_bytes())
    data[-10] ^= 0xFF
    batch.write_bytes(bytes(data))
    m = json.loads((sent / "manifest.json").read_text())
    from privacy.he.wire import sha256

    m["batches"][0]["sha256"] = sha256(bytes(data))
    (sent / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(HEError, match=r"batch_00000\.llhe: ciphertext bytes do not match"):
        _score(world["model"], sent, world["root"] / "never-rehashed")


def test_scoring_with_another_model_is_refused(world: dict[str, Path]) -> None:
    other = world["root"] / "other-model"
    synthetic_points_table(12, seed=99).save(other)
    with pytest.raises(HEError, match="batches were encrypted for model"):
        _score(other / "points_table.json", world["sent"], world["root"] / "never3")


def test_non_integer_points_are_refused_naming_the_bin(world: dict[str, Path]) -> None:
    d = json.loads((world["model"] / "points_table.json").read_text())
    d["bins"][3]["points"] = 12.5
    bad = world["root"] / "bad_points.json"
    bad.write_text(json.dumps(d))
    with pytest.raises(HEError, match=r"bad_points\.json: bin 3 .* non-integer points"):
        _score(bad, world["sent"], world["root"] / "never4")


def test_points_that_overflow_the_parameters_are_refused(world: dict[str, Path]) -> None:
    d = json.loads((world["model"] / "points_table.json").read_text())
    for b in d["bins"]:
        b["points"] *= 2**40  # any span of at least one point now passes 2^40 raw scores
    model = world["root"] / "huge"
    model.mkdir()
    (model / "points_table.json").write_text(json.dumps(d))
    with pytest.raises(HEError, match="beyond the bfv bound"):
        encrypt_applicants(world["applicants"], model, world["root"] / "never5", world["holder"])


def test_an_applicants_file_missing_model_columns_is_refused(world: dict[str, Path]) -> None:
    frame = pd.read_parquet(world["applicants"]).drop(columns=["num_000", "num_001"])
    path = world["root"] / "short.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(
        HEError, match=r"short\.csv: lacks the model's columns \['num_000', 'num_001'\]"
    ):
        encrypt_applicants(path, world["model"], world["root"] / "never6", world["holder"])


def test_results_are_refused_by_a_holder_with_another_key(world: dict[str, Path]) -> None:
    other = world["root"] / "other-home"
    keygen(other, "bfv")
    (other / "rounds").mkdir()
    for p in (world["holder"] / "rounds").iterdir():
        shutil.copy(p, other / "rounds")  # even with this round's record copied over
    rec = next((other / "rounds").glob("*[0-9a-f].json"))
    r = json.loads(rec.read_text())
    r["key_id"] = load_key(other, "bfv").key_id
    rec.write_text(json.dumps(r))
    with pytest.raises(HEError, match="key_id is"):
        decrypt_round(world["scored"], world["root"] / "never.parquet", other)


def test_results_forged_to_name_another_key_fail_the_range_check(
    world: dict[str, Path],
) -> None:
    """Headers rewritten to claim this holder's key: decryption yields noise, nothing released."""
    from privacy.he.wire import decode_message, encode_message, sha256

    other = world["root"] / "forger"
    keygen(other, "bfv")
    fsent = world["root"] / "forged-sent"
    encrypt_applicants(world["applicants"], world["model"], fsent, other)
    fscored = world["root"] / "forged-scored"
    _score(world["model"], fsent, fscored)
    target = json.loads((world["scored"] / "manifest.json").read_text())
    forged = _copy(world["scored"], world["root"] / "forged")
    for entry in target["results"]:
        theirs = (fscored / entry["file"]).read_bytes()
        header, blobs = decode_message(theirs, entry["file"], {})
        binding = {k: target[k] for k in ("scheme", "params_hash", "model_hash", "key_id")}
        msg = encode_message(
            dict(header, **binding, round_id=target["round_id"]),
            blobs,
        )
        (forged / entry["file"]).write_bytes(msg)
        entry["sha256"] = sha256(msg)
    (forged / "manifest.json").write_text(json.dumps(target))
    out = world["root"] / "forged.parquet"
    with pytest.raises(HEError, match=r"result_00000\.llhe: .* outside the model's declared range"):
        decrypt_round(forged, out, world["holder"])
    assert not out.exists()


def test_a_key_made_for_earlier_parameters_is_refused_with_how_to_rotate(
    world: dict[str, Path],
) -> None:
    import tenseal as ts

    holder = world["root"] / "old-params"
    holder.mkdir(mode=0o700)
    old = ts.context(
        ts.SCHEME_TYPE.BFV,
        4096,
        plain_modulus=65537,
        coeff_mod_bit_sizes=[54, 55],
        encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
    )
    secret = old.serialize(save_secret_key=True)
    from privacy.he.keys import _key_id

    fd = os.open(holder / "bfv.secret-context", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, secret)
    os.close(fd)
    (holder / "bfv.key.json").write_text(json.dumps({"key_id": _key_id(secret)}))
    with pytest.raises(HEError, match=r"made for other bfv parameters .*ledgerlens he keygen"):
        load_key(holder, "bfv")


def test_the_scorer_cli_charges_the_holder_and_refuses_past_the_budget(
    world: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app

    points = world["model"] / "points_table.json"
    ledger = tmp_path / "budget.jsonl"
    args = ["he", "score", "--points", str(points), "--in", str(world["sent"])]
    runner = CliRunner()
    refused = runner.invoke(
        app,
        [
            *args,
            "--out",
            str(tmp_path / "a"),
            "--holder",
            "wallet-b",
            "--budget",
            "10",
            "--budget-ledger",
            str(ledger),
        ],
    )
    assert refused.exit_code == 3, refused.output
    assert "wallet-b" in refused.output and not (tmp_path / "a" / "manifest.json").exists()
    ok = runner.invoke(
        app,
        [
            *args,
            "--out",
            str(tmp_path / "b"),
            "--holder",
            "wallet-b",
            "--budget-ledger",
            str(ledger),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "left this month" in ok.output
