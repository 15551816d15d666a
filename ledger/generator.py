"""Kept only for ``pipelines/cli.py`` until the integrator imports :mod:`ledger.synthetic` there."""

from ledger.synthetic import GenerationSummary, GeneratorConfig, generate, transactions_file_format

__all__ = ["GenerationSummary", "GeneratorConfig", "generate", "transactions_file_format"]
