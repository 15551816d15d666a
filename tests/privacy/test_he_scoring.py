"""Encrypted scoring equals the plaintext scorecard exactly; the scorer never holds a secret key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tenseal as ts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit.scorecard import PointsTable
from privacy.he.encoding import column_indices, split_model
from privacy.he.errors import HEError
from privacy.he.holder import Holder
from privacy.he.keys import HolderKey, generate_key
from privacy.he.packing import packing_for
from privacy.he.params import BFV, BFV_DATA_PRIME, BFV_NOISE_CEILING, CKKS, public_context_bytes
from privacy.he.rounds import column_parts, run_round
from privacy.he.scorer import Scorer
from privacy.he.synthetic import synthetic_applicants, synthetic_points_table

_BFV_KEY = generate_key("bfv")


@pytest.fixture(scope="module")
def points() -> PointsTable:
    return synthetic_points_table(60, seed=3)


@pytest.fixture(scope="module", params=["bfv", "ckks"])
def key(request: pytest.FixtureRequest) -> HolderKey:
    return generate_key(request.param)


def _score(points: PointsTable, key: HolderKey, frame: pd.DataFrame) -> np.ndarray:
    enc, weights = split_model(points)
    holder = Holder(key, enc)
    scorer = Scorer(key.public_context, key.scheme, weights, holder.packing)
    cols = column_indices(enc, frame, "frame")
    out = []
    for a in range(0, len(cols), holder.batch_size):
        chunk = cols[a : a + holder.batch_size]
        blob, _ = scorer.score_batch(holder.encrypt_batch(chunk), "batch")
        out.append(holder.release(holder.decrypt_batch(blob, len(chunk), "r"), "r"))
    return np.concatenate(out)


def test_ten_thousand_encrypted_scores_equal_the_plaintext_scorecard(
    points: PointsTable, key: HolderKey
) -> None:
    frame = synthetic_applicants(points, 10_000, seed=1)
    result = run_round(points, frame, key=key, workers=1)
    expected = points.score(frame)
    per_slot = 4 if key.scheme.name == "bfv" else 1  # 10-bit raw span: 4 digits of 40 bits
    assert result.metadata["applicants_per_slot"] == per_slot
    assert result.metadata["batches"] == -(-10_000 // (key.scheme.slots * per_slot))
    np.testing.assert_array_equal(result.scores, expected)
    assert result.metadata["exact"] == 10_000
    # the clip is exercised: some raw scores fall outside [300, 850]
    raw = points.raw_points(frame)
    assert (raw > 850).any() or (raw < 300).any()
    assert result.metadata["max_abs_error"] < (1e-3 if key.scheme.name == "ckks" else 1e-12)


def test_a_one_batch_round_on_two_workers_splits_its_columns_and_stays_exact(
    points: PointsTable,
) -> None:
    frame = synthetic_applicants(points, 700, seed=6)
    result = run_round(points, frame, "bfv", key=_BFV_KEY, workers=2)
    assert result.metadata["batches"] == 1 and result.metadata["column_parts"] == 2
    np.testing.assert_array_equal(result.scores, points.score(frame))


def test_two_inline_rounds_at_once_in_threads_keep_their_own_keys() -> None:
    """Inline pools once kept their Holder and Scorer in module globals: a second round started
    in another thread swapped the first's key, and its batches failed the range check."""
    import threading

    small = synthetic_points_table(12, seed=2)
    frame = synthetic_applicants(small, 300, seed=2)
    keys = [generate_key("bfv"), generate_key("bfv")]
    results: dict[int, np.ndarray] = {}
    failures: list[BaseException] = []

    def one(i: int) -> None:
        try:
            results[i] = run_round(small, frame, key=keys[i], workers=1).scores
        except BaseException as e:  # collected: a thread's exception would be lost
            failures.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for i in range(2):
        np.testing.assert_array_equal(results[i], small.score(frame))


@given(columns=st.integers(1, 300), batches=st.integers(1, 40), workers=st.integers(1, 8))
def test_column_parts_cover_every_column_once(columns: int, batches: int, workers: int) -> None:
    parts = column_parts(columns, batches, workers)
    covered = [c for p in parts for c in range(columns)[p]]
    assert covered == list(range(columns))
    assert len(parts) == (min(columns, workers // batches) if batches < workers else 1)


def test_batch_sizes_off_the_slot_count_score_exactly() -> None:
    """One applicant, a part-filled slot, one short of a batch, one into a second batch."""
    small = synthetic_points_table(12, seed=8)
    holder = Holder(_BFV_KEY, split_model(small)[0])
    size = holder.batch_size
    assert size == _BFV_KEY.scheme.slots * holder.packing.digits and holder.packing.digits == 5
    for n in (1, 2, size - 1, size + 1):
        frame = synthetic_applicants(small, n, seed=n)
        np.testing.assert_array_equal(_score(small, _BFV_KEY, frame), small.score(frame))


def test_applicants_with_missing_and_unknown_values_land_in_the_missing_bin(
    points: PointsTable, key: HolderKey
) -> None:
    frame = synthetic_applicants(points, 300, seed=5)
    frame.iloc[:100] = np.nan  # every feature missing
    cat = points.categorical_features[0]
    frame[cat] = frame[cat].astype("object")
    frame.loc[100:199, cat] = "never-seen-category"
    got = _score(points, key, frame)
    np.testing.assert_array_equal(got, points.score(frame))
    assert len(set(got[:100].tolist())) == 1  # all-missing applicants share one score


def test_the_context_sent_to_the_scorer_holds_no_key(key: HolderKey) -> None:
    sent = ts.context_from(key.public_context)
    assert key.context.is_private()
    assert not sent.is_private()
    assert not sent.has_galois_keys() and not sent.has_relin_keys()
    with pytest.raises(ValueError):
        sent.secret_key()
    assert len(key.public_context) < 200  # parameters only


def test_the_scorer_refuses_a_context_holding_the_secret_key(
    points: PointsTable, key: HolderKey
) -> None:
    _, weights = split_model(points)
    enc, weights = split_model(points)
    packing = Holder(key, enc).packing
    with pytest.raises(HEError, match="holds a secret key"):
        Scorer(key.secret_bytes(), key.scheme, weights, packing, "context.bin")


def test_the_scorer_refuses_a_context_of_other_parameters(points: PointsTable) -> None:
    enc, weights = split_model(points)
    packing = packing_for(CKKS, enc.raw_min, enc.raw_max, "model")
    with pytest.raises(HEError, match="does not carry the ckks parameters"):
        Scorer(_BFV_KEY.public_context, CKKS, weights, packing)


def test_the_encoding_sent_to_the_holder_carries_no_points(points: PointsTable) -> None:
    enc, weights = split_model(points)
    assert {b["points"] for b in enc.bins["bins"]} == {0}
    assert enc.bins["base_points"] == 0
    assert enc.columns == len(weights.weights) == 60
    assert 0 not in weights.weights  # a zero weight would mean a redundant column


def test_a_decryption_under_another_key_is_refused_not_released(points: PointsTable) -> None:
    enc, weights = split_model(points)
    a, b = _BFV_KEY, generate_key("bfv")
    frame = synthetic_applicants(points, 500)
    cols = column_indices(enc, frame, "frame")
    holder = Holder(a, enc)
    blob, _ = Scorer(a.public_context, BFV, weights, holder.packing).score_batch(
        holder.encrypt_batch(cols), "batch"
    )
    other = Holder(b, enc)
    with pytest.raises(HEError, match="outside the model's declared range"):
        other.release(other.decrypt_batch(blob, len(cols), "result_00000.llhe"), "result_00000")


def test_ckks_release_refuses_non_integer_decryptions(points: PointsTable) -> None:
    enc, _ = split_model(points)
    holder = Holder(generate_key("ckks"), enc)
    values = np.full(10, 600.0)
    values[3] += 0.25  # what crafted non-integer weights leave behind
    with pytest.raises(HEError, match="1 of 10 decrypted scores are not integers"):
        holder.release(values, "result")
    np.testing.assert_array_equal(holder.release(values.round() + 1e-4, "r"), np.full(10, 600))


def test_points_beyond_the_plaintext_modulus_are_refused() -> None:
    d = synthetic_points_table(8).to_dict()
    for b in d["bins"]:
        b["points"] *= 2**40  # raw scores now span more than 2^40 values: not one digit of a slot
    enc, _ = split_model(PointsTable.from_dict(d))
    with pytest.raises(HEError, match=r"beyond the bfv bound of 2\^40 distinct raw scores"):
        Holder(_BFV_KEY, enc)
    with pytest.raises(HEError, match=r"beyond the ckks bound \|score\| <= 524287"):
        Holder(generate_key("ckks"), enc)


def test_weights_beyond_the_noise_budget_are_refused_by_the_scorer() -> None:
    d = synthetic_points_table(16).to_dict()
    for b in d["bins"]:
        b["points"] *= 40  # span still packs, but sum |w| passes 2^13
    enc, weights = split_model(PointsTable.from_dict(d))
    assert weights.weight_l1 > BFV.max_weight_l1
    packing = packing_for(BFV, enc.raw_min, enc.raw_max, "model")
    with pytest.raises(HEError, match="exceeds 8192"):
        Scorer(_BFV_KEY.public_context, BFV, weights, packing)


def test_noise_budget_survives_the_largest_admitted_weights() -> None:
    import tenseal.sealapi as sa

    key = _BFV_KEY
    ctx = key.context.seal_context().data
    dec = sa.Decryptor(ctx, key.context.secret_key().data)
    d = synthetic_points_table(16).to_dict()
    l1 = split_model(PointsTable.from_dict(d))[1].weight_l1
    for b in d["bins"]:
        b["points"] = b["points"] * (BFV.max_weight_l1 // l1)  # sum |w| close to the 2^13 bound
    points = PointsTable.from_dict(d)
    enc, weights = split_model(points)
    assert BFV.max_weight_l1 // 2 < weights.weight_l1 <= BFV.max_weight_l1
    assert min(weights.weights) < 0 < max(weights.weights)  # both signs of weight
    frame = synthetic_applicants(points, 200)
    cols = column_indices(enc, frame, "frame")
    holder = Holder(key, enc)
    scorer = Scorer(key.public_context, BFV, weights, holder.packing)
    blob, _ = scorer.score_batch(holder.encrypt_batch(cols), "b")
    from privacy.he.wire import seal_load

    ct = sa.Ciphertext()
    seal_load(ct, ctx, blob)
    # worst case |E| <= 22 * 8192 + 1 < q / 2t (``test_the_bfv_noise_bound_holds``); SEAL's
    # budget, log2 of the margin, usually reads 3 bits here (the noises are independent)
    assert dec.invariant_noise_budget(ct) >= 1
    np.testing.assert_array_equal(
        holder.release(holder.decrypt_batch(blob, 200, "r"), "r"), points.score(frame)
    )


def test_the_bfv_noise_bound_holds_for_the_context_tenseal_builds() -> None:
    """The worst-case bound of params.py, on the primes the context really uses."""
    primes = _BFV_KEY.context.seal_context().data.first_context_data().parms().coeff_modulus()
    assert [p.value() for p in primes] == [BFV_DATA_PRIME]
    assert BFV.plain_modulus == 2**41 and BFV.plain_bits == 40
    assert 22 * BFV.max_weight_l1 + 1 < BFV_NOISE_CEILING == BFV_DATA_PRIME // (2 * 2**41)


def test_negative_weights_cost_their_size_in_noise_not_the_plain_modulus() -> None:
    """All weights negative (the baseline bin earns most): SEAL would scale the noise by t."""
    import tenseal.sealapi as sa

    d = synthetic_points_table(8).to_dict()
    for b in d["bins"]:
        b["points"] = -int(b["points"]) if b["bin_index"] else 100
    points = PointsTable.from_dict(d)
    enc, weights = split_model(points)
    assert max(weights.weights) < 0
    holder = Holder(_BFV_KEY, enc)
    frame = synthetic_applicants(points, 300, seed=4)
    blob, _ = Scorer(_BFV_KEY.public_context, BFV, weights, holder.packing).score_batch(
        holder.encrypt_batch(column_indices(enc, frame, "frame")), "b"
    )
    from privacy.he.wire import seal_load

    ctx = _BFV_KEY.context.seal_context().data
    ct = sa.Ciphertext()
    seal_load(ct, ctx, blob)
    # as t - |w| the budget would be gone; as |w| (sum 4 x 100 here) ~5 bits remain
    assert sa.Decryptor(ctx, _BFV_KEY.context.secret_key().data).invariant_noise_budget(ct) >= 4
    np.testing.assert_array_equal(
        holder.release(holder.decrypt_batch(blob, 300, "r"), "r"), points.score(frame)
    )


_table = st.lists(st.lists(st.integers(-50, 80), min_size=2, max_size=6), min_size=1, max_size=5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(features=_table, base=st.integers(0, 600), seed=st.integers(0, 2**16))
def test_any_integer_scorecard_scores_exactly_under_bfv(
    features: list[list[int]], base: int, seed: int
) -> None:
    rows = []
    for f, pts in enumerate(features):
        *real, miss = pts
        edges = np.linspace(-1, 1, len(real) - 1) if len(real) > 1 else np.array([])
        for b, p in enumerate(real):
            rows.append(
                dict(
                    feature=f"f{f}",
                    bin_index=b,
                    lower=None if b == 0 else float(edges[b - 1]),
                    upper=None if b == len(real) - 1 else float(edges[b]),
                    is_missing=False,
                    category=None,
                    points=p,
                    contribution=0.0,
                )
            )
        rows.append(
            dict(
                feature=f"f{f}",
                bin_index=len(real),
                lower=None,
                upper=None,
                is_missing=True,
                category=None,
                points=miss,
                contribution=0.0,
            )
        )
    scaling = dict(base_score=600.0, base_odds=50.0, pdo=20.0, min_score=300, max_score=850)
    points = PointsTable.from_dict({"base_points": base, "scaling": scaling, "bins": rows})
    if len(set(points.table["points"])) == 1 or all(len(set(p)) == 1 for p in features):
        return  # nothing to encrypt: split_model refuses such a model (tested elsewhere)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"f{f}": rng.normal(0, 1.2, 64) for f in range(len(features))})
    frame = frame.mask(rng.random(frame.shape) < 0.2)
    np.testing.assert_array_equal(_score(points, _BFV_KEY, frame), points.score(frame))


def test_a_model_without_any_indicator_column_is_refused() -> None:
    d = synthetic_points_table(4).to_dict()
    for b in d["bins"]:
        b["points"] = 7
    with pytest.raises(HEError, match="nothing to score"):
        split_model(PointsTable.from_dict(d))


def test_public_context_bytes_are_the_same_for_every_key_of_a_scheme() -> None:
    assert public_context_bytes(generate_key("bfv").context) == generate_key("bfv").public_context


@settings(max_examples=15, deadline=None)
@given(
    columns=st.integers(1, 24),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 60),
    scale=st.sampled_from([1, 7, 300]),
)
def test_packing_and_the_scorers_constant_decode_to_the_raw_scores_exactly(
    columns: int, seed: int, n: int, scale: int
) -> None:
    """The packing arithmetic alone, mod t as SEAL computes it: pack, weigh, add, unpack."""
    d = synthetic_points_table(columns, seed=seed).to_dict()
    for b in d["bins"]:
        b["points"] = b["points"] * scale - 40 * scale  # negative and positive points
    points = PointsTable.from_dict(d)
    enc, weights = split_model(points)
    packing = packing_for(BFV, enc.raw_min, enc.raw_max, "model")
    assert packing.bits * packing.digits <= BFV.plain_bits
    frame = synthetic_applicants(points, n, seed=seed)
    slots = packing.pack(column_indices(enc, frame, "frame"), enc.columns).astype(object)
    t = BFV.plain_modulus
    assert t is not None
    result = (
        sum(w * row for w, row in zip(weights.weights, slots, strict=True))
        + packing.constant(weights.offset)
    ) % t
    full = np.full(BFV.slots, packing.constant(weights.offset) % t, dtype=np.uint64)
    full[: len(result)] = np.asarray(result, dtype=np.uint64)
    np.testing.assert_array_equal(packing.unpack(full, n, "r"), points.raw_points(frame))


@settings(max_examples=25, deadline=None)
@given(span=st.integers(0, 2**20), raw_min=st.integers(-(10**6), 10**6), seed=st.integers(0, 99))
def test_uniform_residues_as_a_wrong_key_decrypts_them_are_never_released(
    span: int, raw_min: int, seed: int
) -> None:
    packing = packing_for(BFV, raw_min, raw_min + span, "model")
    assert BFV.plain_modulus is not None
    noise = np.random.default_rng(seed).integers(0, BFV.plain_modulus, BFV.slots, dtype=np.uint64)
    with pytest.raises(HEError, match="outside the model's declared range"):
        packing.unpack(noise, 10, "result_00000.llhe")


@settings(max_examples=20, deadline=None)
@given(
    values=st.lists(st.integers(0, 2**41 - 1), min_size=1, max_size=BFV.slots),
)
def test_coefficient_plaintexts_are_the_ones_seal_builds_itself(values: list[int]) -> None:
    """The numpy-built plaintext bytes load as the polynomial SEAL parses from its hex form."""
    import tenseal.sealapi as sa

    from privacy.he.wire import plain_from_coefficients

    ctx = _BFV_KEY.context.seal_context().data
    ours = sa.Plaintext()
    plain_from_coefficients(ours, ctx, np.asarray(values, dtype=np.uint64))
    terms = [f"{v:X}x^{i}" for i, v in reversed(list(enumerate(values))) if v]
    theirs = sa.Plaintext(" + ".join(terms).replace("x^0", "") or "0")
    assert ours.coeff_count() == len(values)
    assert [ours[i] for i in range(len(values))] == values
    assert ours.to_string() == theirs.to_string()


def test_a_coefficient_at_or_above_the_plain_modulus_is_refused_by_seal() -> None:
    import tenseal.sealapi as sa

    from privacy.he.wire import plain_from_coefficients

    assert BFV.plain_modulus is not None
    bad = np.array([1, BFV.plain_modulus], dtype=np.uint64)
    with pytest.raises(RuntimeError, match="Plaintext data is invalid"):
        plain_from_coefficients(sa.Plaintext(), _BFV_KEY.context.seal_context().data, bad)
