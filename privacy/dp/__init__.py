"""Sellable insights with user-level differential privacy (OpenDP) and a persistent,
hash-chained privacy-loss ledger.

Modules: :mod:`catalogue` (the validated report catalogue), :mod:`base` (the insight base over the
insights-purpose minimised tables), :mod:`bounding` (keyed contribution bounding), :mod:`mechanisms`
(OpenDP measurements), :mod:`ledger` (budgets, check-and-charge, verification), :mod:`release`
(the engine), :mod:`outputs` / :mod:`html_report` (files for the publish gate), :mod:`commands`
(what the CLI calls).
"""
