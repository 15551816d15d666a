"""Credit assets: point-in-time features -> additive scorecard -> scores with reasons -> pricing,
with stability (PSI/CSI) and fairness checks and a model card for the risk team."""

import json
from typing import Any

import dagster as dg
import pandas as pd

from credit.fairness import fairness_report
from credit.features import build_features
from credit.model_card import render_model_card
from credit.monitoring import stability_report
from credit.pricing import price_loans, price_merchants
from credit.scoring import score_applications, train_ledger_model
from credit.training import CreditModel
from assets.resources import DUCKDB_POOL, LedgerHome

SCORE_PSI_CHECK = "score_psi"
FEATURE_CSI_CHECK = "feature_csi"
FOUR_FIFTHS_CHECK = "four_fifths_rule"

FEATURES_KEY = dg.AssetKey(["credit", "features"])
MODEL_KEY = dg.AssetKey(["credit", "model"])
SCORES_KEY = dg.AssetKey(["credit", "scores"])
PRICING_KEY = dg.AssetKey(["credit", "pricing"])
MERCHANT_PRICING_KEY = dg.AssetKey(["credit", "merchant_pricing"])
MODEL_CARD_KEY = dg.AssetKey(["credit", "model_card"])

# Only minimised (credit purpose) data and the dbt models built from it feed the features.
LEDGER_INPUT = """
CREATE OR REPLACE TEMP VIEW credit_ledger_input AS
SELECT n.user_id AS subject_id, n.occurred_at, n.tx_type, n.direction, n.amount_base,
       n.fee_base, m.mcc, m.mcc_risk_level AS mcc_risk, t.counterparty, t.device_id,
       n.country, n.loan_id
FROM intermediate.int_transactions_normalised n
JOIN minimised.credit_transactions t USING (txn_id)
LEFT JOIN intermediate.int_merchants_risk_rated m ON m.merchant_id = n.merchant_id
"""
APPLICATIONS_INPUT = """
CREATE OR REPLACE TEMP VIEW credit_applications_input AS
SELECT l.loan_id, l.user_id AS subject_id, l.applied_at,
       l.principal * p.price_base AS principal_base, l.term_days, l.due_date,
       l.is_bad AS label
FROM marts.loans l
LEFT JOIN staging.stg_ledger__prices p ON p.asset = l.asset AND p.price_date = l.applied_date
"""
SUBJECTS_INPUT = """
CREATE OR REPLACE TEMP VIEW credit_subjects_input AS
SELECT user_id AS subject_id, signup_date, kyc_level, city_tier FROM marts.accounts
"""


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


@dg.asset(
    key=FEATURES_KEY,
    deps=[
        dg.AssetKey(["minimised", "credit_transactions"]),
        dg.AssetKey(["intermediate", "int_transactions_normalised"]),
        dg.AssetKey(["intermediate", "int_merchants_risk_rated"]),
        dg.AssetKey(["marts", "loans"]),
        dg.AssetKey(["marts", "accounts"]),
    ],
    group_name="credit",
    kinds={"duckdb"},
    owners=["team:risk"],
    pool=DUCKDB_POOL,
)
def application_features(ledger_home: LedgerHome) -> dg.MaterializeResult:
    """One row per loan application: cash-flow and risk-rule features from before applied_at."""
    with ledger_home.connect() as con:
        for sql in (LEDGER_INPUT, APPLICATIONS_INPUT, SUBJECTS_INPUT):
            con.execute(sql)
        features = build_features(
            con, "credit_ledger_input", "credit_applications_input", "credit_subjects_input"
        )
        _write_table(con, "features", features)
    labelled = features["label"].notna()
    return dg.MaterializeResult(
        metadata={
            "applications": len(features),
            "labelled": int(labelled.sum()),
            "bad rate (labelled)": float(features.loc[labelled, "label"].mean())
            if labelled.any()
            else None,
            "dagster/row_count": len(features),
        }
    )


@dg.asset(
    key=MODEL_KEY,
    deps=[FEATURES_KEY],
    group_name="credit",
    kinds={"lightgbm"},
    owners=["team:risk"],
    pool=DUCKDB_POOL,
)
def credit_model(ledger_home: LedgerHome) -> dg.MaterializeResult:
    """Additive LightGBM scorecard (challenger and WoE logistic beside it), out-of-time holdout."""
    home = ledger_home.home
    with ledger_home.connect() as con:
        features = con.execute("SELECT * FROM credit.features").df()
        snapshot = _snapshot(con)
    result = train_ledger_model(features, snapshot_id=snapshot)
    model_dir = home.out_for("risk") / "model"
    result.model.save(model_dir)
    internal = home.root / "models" / "credit"
    internal.mkdir(parents=True, exist_ok=True)
    (internal / "metrics.json").write_text(json.dumps(result.metrics, indent=2, default=str))
    result.holdout.to_parquet(internal / "holdout.parquet")
    result.reliability.to_parquet(internal / "reliability.parquet")
    (model_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2, default=str))
    auc = {
        name: result.metrics[name]["auc"]
        for name in ("additive", "challenger", "logistic")
        if isinstance(result.metrics.get(name), dict) and "auc" in result.metrics[name]
    }
    return dg.MaterializeResult(
        metadata={
            "model version": result.model.version,
            "out-of-time AUC": dg.MetadataValue.json(auc),
            "metrics": dg.MetadataValue.json(json.loads(json.dumps(result.metrics, default=str))),
            "points table": dg.MetadataValue.path(str(model_dir / "points_table.parquet")),
            "snapshot_id": snapshot or "none",
        }
    )


def _status_result(check: str, asset: dg.AssetKey, status: str, metadata: dict) -> Any:
    return dg.AssetCheckResult(
        check_name=check,
        asset_key=asset,
        passed=status == "ok",
        severity=dg.AssetCheckSeverity.ERROR if status == "fail" else dg.AssetCheckSeverity.WARN,
        metadata={"status": status, **metadata},
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SCORES_KEY,
            deps=[MODEL_KEY, FEATURES_KEY],
            group_name="credit",
            kinds={"duckdb", "parquet"},
            owners=["team:risk"],
            description="Score 300-850, PD, grade and up to 4 reasons per application",
        ),
        dg.AssetSpec(
            PRICING_KEY,
            deps=[SCORES_KEY],
            group_name="credit",
            kinds={"duckdb", "parquet"},
            owners=["team:risk"],
            description="PD -> grade -> APR and credit limit per application",
        ),
        dg.AssetSpec(
            MERCHANT_PRICING_KEY,
            deps=[dg.AssetKey(["marts", "merchants"])],
            group_name="credit",
            kinds={"duckdb", "parquet"},
            owners=["team:risk"],
            description="Merchant fee tiers by volume band and risk, with promotions",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            SCORE_PSI_CHECK,
            asset=SCORES_KEY,
            description="PSI of the score, training vs latest population: 0.1 warns, 0.25 fails",
        ),
        dg.AssetCheckSpec(
            FEATURE_CSI_CHECK,
            asset=SCORES_KEY,
            description="CSI of every scored feature: 0.1 warns, 0.25 fails",
        ),
    ],
    pool=DUCKDB_POOL,
)
def credit_outputs(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Scores with reasons and pricing signals, as tables and as Parquet under out/risk/."""
    home = ledger_home.home
    risk = home.out_for("risk")
    model = CreditModel.load(risk / "model")
    with ledger_home.connect() as con:
        features = con.execute("SELECT * FROM credit.features").df()
        scores = score_applications(model, features)
        pricing = price_loans(scores.merge(features[["loan_id", "term_days"]], on="loan_id"))
        merchants = con.execute(
            """SELECT merchant_id, avg_monthly_volume_base AS monthly_volume,
                      chargeback_rate AS chargeback_ratio, refund_rate AS refund_ratio,
                      mcc_risk_level AS mcc_risk, active_months AS months_active, size_tier
               FROM marts.merchants"""
        ).df()
        merchant_pricing = price_merchants(merchants)
        for name, frame in (
            ("scores", scores),
            ("pricing", pricing),
            ("merchant_pricing", merchant_pricing),
        ):
            _write_table(con, name, frame)
            frame.to_parquet(risk / f"{name}.parquet", index=False)
    # Stability: the training population (labelled) against the latest scoring population.
    labelled = features[features["label"].notna()]
    latest = features[features["label"].isna()]
    if latest.empty:
        latest = features.sort_values("applied_at").tail(max(1, len(features) // 5))
    stability = stability_report(model.points, labelled, latest)
    (home.root / "models" / "credit").mkdir(parents=True, exist_ok=True)
    (home.root / "models" / "credit" / "stability.json").write_text(
        json.dumps({**stability, "features": stability["features"].to_dict("records")}, default=str)
    )
    for key, frame in (
        (SCORES_KEY, scores),
        (PRICING_KEY, pricing),
        (MERCHANT_PRICING_KEY, merchant_pricing),
    ):
        yield dg.MaterializeResult(asset_key=key, metadata={"dagster/row_count": len(frame)})
    worst = stability["features"].sort_values("csi", ascending=False).head(5)
    yield _status_result(
        SCORE_PSI_CHECK,
        SCORES_KEY,
        stability["score_status"],
        {
            "psi": float(stability["score_psi"]),
            "warn": 0.1,
            "fail": 0.25,
            "n_train": stability["n_train"],
            "n_latest": stability["n_latest"],
        },
    )
    feature_status = max(
        stability["features"]["status"], key=["ok", "warn", "fail"].index, default="ok"
    )
    yield _status_result(
        FEATURE_CSI_CHECK,
        SCORES_KEY,
        feature_status,
        {
            "highest CSI": dg.MetadataValue.md(
                "\n".join(f"- {r.feature}: {r.csi:.3f} ({r.status})" for r in worst.itertuples())
            )
        },
    )
    context.log.info(f"scored {len(scores)} applications; stability {stability['status']}")


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
    group_name="credit",
    kinds={"html"},
    owners=["team:risk"],
    pool=DUCKDB_POOL,
)
def model_card(ledger_home: LedgerHome):
    """Self-contained HTML model card for model-risk review (no network)."""
    home = ledger_home.home
    internal = home.root / "models" / "credit"
    model = CreditModel.load(home.out_for("risk") / "model")
    metrics = json.loads((internal / "metrics.json").read_text())
    holdout = pd.read_parquet(internal / "holdout.parquet")
    reliability = pd.read_parquet(internal / "reliability.parquet")
    stability = json.loads((internal / "stability.json").read_text())
    stability["features"] = pd.DataFrame(stability["features"])
    with ledger_home.connect() as con:
        # Protected attributes join the decisions here, for evaluation only: never features.
        joined = con.execute(
            """SELECT p.decision, p.pd, f.label, u.gender, u.age_band
               FROM credit.pricing p
               JOIN credit.features f USING (loan_id)
               LEFT JOIN minimised.credit_users u ON u.user_id = p.subject_id"""
        ).df()
        snapshot = _snapshot(con)
    fairness = fairness_report(
        joined["decision"].eq("approve").to_numpy(),
        joined["pd"].to_numpy(),
        joined[["gender", "age_band"]].fillna("unknown"),
        y=joined["label"],
    )
    html = render_model_card(
        model,
        metrics,
        holdout,
        reliability,
        stability=stability,
        fairness=fairness,
        snapshot_id=snapshot,
    )
    path = home.out_for("risk") / "model_card.html"
    path.write_text(html)
    yield dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "bytes": len(html.encode())}
    )
    yield dg.AssetCheckResult(
        check_name=FOUR_FIFTHS_CHECK,
        passed=bool(fairness["passes"]),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"report": dg.MetadataValue.json(json.loads(json.dumps(fairness, default=str)))},
    )
