"""Leak guard precision and recall on the labelled corpus (benchmarks.bench_leakguard): recall
>= 0.995 and precision >= 0.99 over >= 2,000 planted cells, half hard negatives, through the
vectorised path files and tables take; the per-cell path agrees."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.bench_leakguard import Corpus, build_corpus, score
from privacy.leakguard import scan_paths


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return build_corpus()


def test_the_corpus_is_large_balanced_and_covers_every_form(corpus: Corpus) -> None:
    positives = [c for c in corpus.cells if c.kind is not None]
    negatives = [c for c in corpus.cells if c.kind is None]
    assert len(corpus.cells) >= 2000 and len(positives) == len(negatives)
    assert len({c.form for c in positives}) >= 40 and len({c.form for c in negatives}) >= 25
    assert build_corpus().cells == corpus.cells  # deterministic


def test_recall_and_precision_meet_the_targets(corpus: Corpus) -> None:
    s = score(corpus.needles(), corpus.cells)
    assert s.recall >= 0.995, s.missed_forms
    assert s.precision >= 0.99, s.false_forms


def test_the_vectorised_and_per_cell_paths_agree(corpus: Corpus) -> None:
    ns = corpus.needles()
    texts = [c.text for c in corpus.cells]
    vectorised = dict(ns.scan_array(pa.array(texts, pa.string())))
    for i, text in enumerate(texts):
        assert sorted(vectorised.get(i, [])) == sorted(ns.scan_text(text)), text


def test_a_parquet_of_the_corpus_reports_one_value_per_positive(
    corpus: Corpus, tmp_path: Path
) -> None:
    cells = [c for c in corpus.cells if c.kind is None] + [
        c for c in corpus.cells if c.form == "phone in merchant id"
    ]
    pq.write_table(pa.table({"merchant_id": [c.text for c in cells]}), tmp_path / "m.parquet")
    report = scan_paths(tmp_path, corpus.needles())
    phones = sum(f.count for f in report.findings if f.kind == "mobile_number")
    assert phones == len({c.text for c in cells if c.kind == "mobile_number"})
    assert {f.kind for f in report.findings} == {"mobile_number"}
