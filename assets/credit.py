"""Credit assets: point-in-time features -> additive scorecard -> scores with reasons -> pricing,
with stability (PSI/CSI) and fairness checks and a model card for the risk team.

Every input is a dbt mart (``marts.credit_events``, ``marts.credit_applications``,
``marts.credit_subjects``, ``marts.merchants``) built from credit-purpose minimised data. Files
for the risk team are staged for the publish gate, never written into ``out/`` directly.
"""

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandas as pd

from assets.dbt import COLUMN_LINEAGE_UNKNOWN, asset_column_lineage
from assets.resources import DUCKDB_POOL, LedgerHome
from credit.features import build_features
from credit.model_card import render_model_card
from credit.pricing import price_applications, price_merchants
from credit.registry import ModelRegistry
from credit.scoring import (
    SCORES_COLUMNS,
    score_applications,
    scoring_population_stability,
    train_ledger_model,
)
from privacy.audit import append_events
from privacy.audit_events import audit_event, run_actor
from privacy.dpo.asset_lineage import (
    feature_columns,
    merchant_pricing_columns,
    pricing_columns,
    score_columns,
)
from privacy.dpo.column_lineage import relation_columns

SCORE_PSI_CHECK = "score_psi"
FEATURE_CSI_CHECK = "feature_csi"
FOUR_FIFTHS_CHECK = "four_fifths_rule"

FEATURES_KEY = dg.AssetKey(["credit", "features"])
MODEL_KEY = dg.AssetKey(["credit", "model"])
SCORES_KEY = dg.AssetKey(["credit", "scores"])
PRICING_KEY = dg.AssetKey(["credit", "pricing"])
MERCHANT_PRICING_KEY = dg.AssetKey(["credit", "merchant_pricing"])
MODEL_CARD_KEY = dg.AssetKey(["credit", "model_card"])

PURPOSE = "credit_scoring"
EVENTS_MART = "marts.credit_events"
APPLICATIONS_MART = "marts.credit_applications"
SUBJECTS_MART = "marts.credit_subjects"

_EAGER = dg.AutomationCondition.eager()
_COMMON: dict[str, Any] = {
    "group_name": "credit",
    "owners": ["team:risk"],
    "pool": DUCKDB_POOL,
    "automation_condition": _EAGER,
}


def _write_table(con: Any, name: str, frame: pd.DataFrame) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS credit")
    con.register("_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE credit.{name} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")


def _snapshot(con: Any) -> str | None:
    row = con.execute(
        "SELECT snapshot_id FROM ledger.snapshots ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def _read(con: Any, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def _features_lineage(con: Any) -> dict[str, Any]:
    """The features' column lineage from the feature SQL over the marts' columns."""
    from sqlglot.errors import SqlglotError

    try:
        columns = feature_columns(
            relation_columns(con), EVENTS_MART, APPLICATIONS_MART, SUBJECTS_MART
        )
    except SqlglotError as exc:
        return {
            COLUMN_LINEAGE_UNKNOWN: f"sqlglot cannot analyse the feature SQL ({type(exc).__name__})"
        }
    return asset_column_lineage(columns)


MERCHANTS_SQL = """SELECT merchant_id, avg_monthly_volume_base AS monthly_volume,
                      chargeback_rate AS chargeback_ratio, refund_rate AS refund_ratio,
                      mcc_risk_level AS mcc_risk, active_months AS months_active, size_tier
               FROM marts.merchants"""


@dg.asset(
    key=FEATURES_KEY,
    deps=[dg.AssetKey(m.split(".")) for m in (EVENTS_MART, APPLICATIONS_MART, SUBJECTS_MART)],
    kinds={"duckdb"},
    **_COMMON,
)
def application_features(ledger_home: LedgerHome) -> dg.MaterializeResult:
    """One row per loan application: cash-flow and risk-rule features from before applied_at."""
    with ledger_home.connect() as con:
        features = build_features(con, EVENTS_MART, APPLICATIONS_MART, SUBJECTS_MART)
        _write_table(con, "features", features)
        lineage = _features_lineage(con)
    labelled = features["label"].notna()
    return dg.MaterializeResult(
        metadata={
            "applications": len(features),
            "labelled": int(labelled.sum()),
            "bad rate (labelled)": float(features.loc[labelled, "label"].mean())
            if labelled.any()
            else None,
            "dagster/row_count": len(features),
            **lineage,
        }
    )


OWNER = "team:risk (credit model owner)"


def model_registry(ledger_home: LedgerHome) -> ModelRegistry:
    """The model registry of the home: trained candidates, and the champion that scores."""
    return ModelRegistry(ledger_home.home.models / "credit")


def _protected(con: Any, features: pd.DataFrame, declared: Sequence[str]) -> pd.DataFrame | None:
    """The declared protected attributes (policy ``credit.protected``: columns of the credit
    purpose's users table) per loan: excluded from features, reported for proxies, judged for
    fairness on holdout rows; never scored. A declared column the table lacks is an error."""
    if not declared:
        return None
    have = {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'minimised' "
            "AND table_name = 'credit_users'"
        ).fetchall()
    }
    missing = [c for c in declared if c not in have]
    if missing:
        raise ValueError(
            f"policy credit.protected names {', '.join(missing)}, not a column of "
            f"minimised.credit_users (it has {', '.join(sorted(have))}); keep the attribute for "
            "the credit_scoring purpose in the policy's rules, or remove it from credit.protected"
        )
    users = _read(
        con, "SELECT user_id AS subject_id, " + ", ".join(declared) + " FROM minimised.credit_users"
    )
    joined = features[["loan_id", "subject_id"]].merge(users, on="subject_id", how="left")
    return joined.drop(columns=["subject_id"]).fillna("unknown")


@dg.asset(
    key=MODEL_KEY,
    deps=[FEATURES_KEY, dg.AssetKey(["minimised", "credit_users"])],
    kinds={"lightgbm"},
    **_COMMON,
)
def credit_model(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Trains a candidate scorecard (challenger and WoE logistic beside it) on the out-of-time
    split and registers it; the champion, which scores, changes only by a promotion."""
    registry = model_registry(ledger_home)
    with ledger_home.connect() as con:
        features = _read(con, "SELECT * FROM credit.features")
        protected = _protected(con, features, ledger_home.policy.credit_protected)
        snapshot = _snapshot(con)
    try:
        result = train_ledger_model(features, snapshot_id=snapshot, protected=protected)
    except ValueError as exc:  # too few outcomes: the champion keeps scoring; say why
        champion = registry.champion_version()
        context.log.warning(f"credit model not trained: {exc}")
        return dg.MaterializeResult(
            metadata={
                "status": "skipped",
                "reason": str(exc),
                "champion": champion or "none: scores are skipped until a model can be trained",
            }
        )
    record = registry.register_candidate(result.model, result.metrics)
    folder = registry.card_path(result.model.version).parent
    result.holdout.to_parquet(folder / "holdout.parquet")
    result.reliability.to_parquet(folder / "reliability.parquet")
    auc = {
        name: result.metrics[name]["auc"]
        for name in ("additive", "challenger", "logistic")
        if isinstance(result.metrics.get(name), dict) and "auc" in result.metrics[name]
    }
    trained = audit_event(
        "credit.model_trained",
        actor=run_actor(context.run.run_id),
        purpose=PURPOSE,
        asset="credit.model",
        snapshot_id=snapshot,
        subject=result.model.version,
        details={
            "new_candidate": bool(record["new"]),
            "champion": registry.champion_version(),
            "applications": len(features),
            "labelled": int(features["label"].notna().sum()),
            "out_of_time_auc": auc,
        },
    )
    with ledger_home.connect() as con:
        append_events(con, [trained])
    return dg.MaterializeResult(
        metadata={
            "status": "trained",
            "candidate": result.model.version,
            "new candidate": bool(record["new"]),
            "champion": registry.champion_version() or "none",
            "approval": registry.approval(result.model.version)["status"],
            "out-of-time AUC": dg.MetadataValue.json(auc),
            "snapshot_id": snapshot or "none",
        }
    )


def _status_result(check: str, status: str, metadata: dict[str, Any]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=check,
        passed=status == "ok",
        severity=dg.AssetCheckSeverity.ERROR if status == "fail" else dg.AssetCheckSeverity.WARN,
        metadata={"status": status, **metadata},
    )


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dg.asset(
    key=SCORES_KEY,
    deps=[MODEL_KEY, FEATURES_KEY],
    kinds={"duckdb", "parquet"},
    description="Score 300-850, PD, grade and up to 4 reasons per application",
    check_specs=[
        dg.AssetCheckSpec(
            SCORE_PSI_CHECK,
            asset=SCORES_KEY,
            description="PSI of the score, development sample at fit time vs the latest "
            "same-length window of the scoring population: 0.1 warns, 0.25 fails",
        ),
        dg.AssetCheckSpec(
            FEATURE_CSI_CHECK,
            asset=SCORES_KEY,
            description="CSI of every scored feature, same populations: 0.1 warns, 0.25 fails",
        ),
    ],
    **_COMMON,
)
def credit_scores(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Scores with reasons from the champion model, as a table and staged Parquet for risk."""
    registry = model_registry(ledger_home)
    champion = registry.champion_version()
    with ledger_home.connect() as con:
        features = _read(con, "SELECT * FROM credit.features")
        lineage = asset_column_lineage(score_columns("credit.features", list(features.columns)))
        if champion is None:
            _write_table(con, "scores", _empty(SCORES_COLUMNS))
            _write_table(con, "feature_stability", _empty(("feature", "csi", "status")))
    if champion is None:
        reason = "no credit model has been trained yet (too few observed loan outcomes)"
        # The (empty) table still has its columns and where they would come from.
        yield dg.MaterializeResult(metadata={"status": "skipped", "reason": reason, **lineage})
        for check in (SCORE_PSI_CHECK, FEATURE_CSI_CHECK):
            yield _status_result(check, "not evaluated", {"reason": reason})
        return
    model = registry.load(champion)
    scores = score_applications(model, features)
    stability = scoring_population_stability(model, features)
    stable = stability["features"] if stability else _empty(("feature", "csi", "status"))
    with ledger_home.connect() as con:
        _write_table(con, "scores", scores)
        _write_table(con, "feature_stability", stable)
        issued = audit_event(
            "credit.scores_issued",
            actor=run_actor(context.run.run_id),
            purpose=PURPOSE,
            asset="credit.scores",
            snapshot_id=_snapshot(con),
            subject=model.version,
            details={
                "applications": len(scores),
                "grades": {str(k): int(v) for k, v in scores["grade"].value_counts().items()},
                "staged": "risk/scores.parquet",
                "approval": registry.approval(model.version)["status"],
            },
        )
        append_events(con, [issued])
    scores.to_parquet(ledger_home.stage(context.run_id, "risk") / "scores.parquet", index=False)
    grade_mix = scores["grade"].value_counts(normalize=True).sort_index().round(4).to_dict()
    approved = price_applications(scores, features)["decision"].eq("approve")
    yield dg.MaterializeResult(
        metadata={
            "status": "scored",
            "model version": model.version,
            "approval": registry.approval(model.version)["status"],
            "approval rate": float(approved.mean()) if len(scores) else None,
            "dagster/row_count": len(scores),
            "grade mix": dg.MetadataValue.json({str(k): float(v) for k, v in grade_mix.items()}),
            "mean PD": float(scores["pd"].mean()) if len(scores) else None,
            "mean score": float(scores["score"].mean()) if len(scores) else None,
            **lineage,
        }
    )
    if stability is None:
        reason = "no application was made after the model's development period yet"
        for check in (SCORE_PSI_CHECK, FEATURE_CSI_CHECK):
            yield _status_result(check, "not evaluated", {"reason": reason})
        return
    periods = {"baseline": stability["baseline"], "compared with": stability["latest"]}
    yield _status_result(
        SCORE_PSI_CHECK,
        stability["score_status"],
        {
            "psi": float(stability["score_psi"]),
            "warn": 0.1,
            "fail": 0.25,
            "n_baseline": stability["n_train"],
            "n_compared": stability["n_latest"],
            **periods,
        },
    )
    worst = stability["features"].sort_values("csi", ascending=False).head(5)
    feature_status = max(
        stability["features"]["status"], key=["ok", "warn", "fail"].index, default="ok"
    )
    yield _status_result(
        FEATURE_CSI_CHECK,
        feature_status,
        {
            "highest CSI": dg.MetadataValue.md(
                "\n".join(f"- {r.feature}: {r.csi:.3f} ({r.status})" for r in worst.itertuples())
            ),
            **periods,
        },
    )


@dg.asset(
    key=PRICING_KEY,
    deps=[SCORES_KEY, FEATURES_KEY],
    kinds={"duckdb", "parquet"},
    description="PD -> grade -> APR, credit limit and decision per application",
    **_COMMON,
)
def loan_pricing(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """APR and credit limit from PD, grade, term and income, staged for the risk team."""
    with ledger_home.connect() as con:
        scores = _read(con, "SELECT * FROM credit.scores")
        features = _read(con, "SELECT * FROM credit.features")
        pricing = price_applications(scores, features)
        _write_table(con, "pricing", pricing)
    pricing.to_parquet(ledger_home.stage(context.run_id, "risk") / "pricing.parquet", index=False)
    approved = pricing["decision"].eq("approve")
    declined = pricing.loc[~approved, "decline_reason"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(pricing),
            "declined by reason": dg.MetadataValue.json(
                {str(k): int(v) for k, v in declined.items()}
            ),
            "approval rate": float(approved.mean()) if len(pricing) else None,
            "median limit (approved)": float(pricing.loc[approved, "credit_limit"].median())
            if approved.any()
            else None,
            **asset_column_lineage(
                pricing_columns("credit.scores", "credit.features", list(features.columns))
            ),
        }
    )


@dg.asset(
    key=MERCHANT_PRICING_KEY,
    deps=[dg.AssetKey(["marts", "merchants"])],
    kinds={"duckdb", "parquet"},
    description="Merchant fee tiers by volume band and risk, with promotions",
    **_COMMON,
)
def merchant_pricing(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Fee tier per merchant from volume band, chargebacks, refunds and MCC risk."""
    with ledger_home.connect() as con:
        merchants = _read(con, MERCHANTS_SQL)
        priced = price_merchants(merchants)
        _write_table(con, "merchant_pricing", priced)
        marts = {"marts.merchants": relation_columns(con).get("marts.merchants", [])}
    staged = ledger_home.stage(context.run_id, "risk") / "merchant_pricing.parquet"
    priced.to_parquet(staged, index=False)
    metadata: dict[str, Any] = {
        "dagster/row_count": len(priced),
        **asset_column_lineage(merchant_pricing_columns(MERCHANTS_SQL, marts)),
    }
    if priced.empty:
        metadata["note"] = "the ledger has no merchants: no merchant pricing"
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=MODEL_CARD_KEY,
    deps=[SCORES_KEY, PRICING_KEY, dg.AssetKey(["minimised", "credit_users"])],
    check_specs=[
        dg.AssetCheckSpec(
            FOUR_FIFTHS_CHECK,
            asset=MODEL_CARD_KEY,
            description="approval-rate ratio >= 0.8 for every protected group",
        )
    ],
    kinds={"html"},
    **_COMMON,
)
def model_card(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """The champion's model card (validator sections, approval status, champion/candidate
    comparison), self-contained HTML staged for the risk team with the public model files."""
    registry = model_registry(ledger_home)
    champion = registry.champion_version()
    if champion is None:
        reason = "no credit model has been trained yet: no model card"
        yield dg.MaterializeResult(metadata={"status": "skipped", "reason": reason})
        yield _status_result(FOUR_FIFTHS_CHECK, "not evaluated", {"reason": reason})
        return
    model = registry.load(champion)
    metrics = registry.metrics(champion)
    folder = registry.card_path(champion).parent
    with ledger_home.connect() as con:
        features = _read(con, "SELECT * FROM credit.features")
        snapshot = _snapshot(con)
    stability = scoring_population_stability(model, features)
    newest = registry.candidates()[-1]["version"]
    html = render_model_card(
        model,
        metrics,
        pd.read_parquet(folder / "holdout.parquet"),
        pd.read_parquet(folder / "reliability.parquet"),
        stability=stability,
        fairness=metrics.get("fairness"),
        snapshot_id=snapshot,
        governance={"owner": OWNER},
        approval=registry.approval(champion),
        comparison=registry.compare(newest, features) if newest != champion else None,
    )
    registry.write_card(champion, html)
    risk = ledger_home.stage(context.run_id, "risk")
    (risk / "model_card.html").write_text(html)
    model.save(risk / "model")
    fairness = metrics.get("fairness") or {}
    yield dg.MaterializeResult(
        metadata={
            "bytes": len(html.encode()),
            "champion": champion,
            "newest candidate": newest,
            "approval": registry.approval(champion)["status"],
        }
    )
    yield dg.AssetCheckResult(
        check_name=FOUR_FIFTHS_CHECK,
        passed=bool(fairness.get("passes", False)),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"report": dg.MetadataValue.json(json.loads(json.dumps(fairness, default=str)))},
    )
