"""Encrypted scoring of applicants with an additive scorecard (TenSEAL/SEAL, BFV or CKKS).

See THREAT_MODEL.md. Modules: params (schemes), encoding (public/secret split of the model),
keys (holder key), holder, scorer, wire (file formats), rounds (directory steps, in-process
round, batch driver), synthetic (bench scorecards). No module here imports dagster.
"""
