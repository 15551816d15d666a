"""A standard-library command line for verifier-only installs: ``python -m zk verify|prove``.

It mirrors ``ledgerlens verify`` / ``ledgerlens prove`` (which the pipeline CLI wires from the same
functions) for lenders and buyers who install only the verifier. ``verify`` exits 0 when the file
is valid and 1 when it is not, naming the first failing check; 2 is a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify an attestation, credential or presentation file")
    v.add_argument("file", type=Path)
    v.add_argument("--nonce")
    v.add_argument("--audience")
    v.add_argument("--issuer-key", type=Path, help="issuer key file (default: under --home)")
    v.add_argument("--status-list", type=Path, help="status list file (default: under --home)")
    v.add_argument("--home", type=Path, help="a ledgerlens home with out/issuer/ published")
    p = sub.add_parser("prove", help='prove "score >= threshold" for one verifier')
    p.add_argument("--credential", type=Path, required=True)
    p.add_argument("--opening", type=Path, required=True)
    p.add_argument("--threshold", type=int, required=True)
    p.add_argument("--nonce", required=True)
    p.add_argument("--audience", required=True)
    p.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "verify":
        from zk.verify import verify_file

        report = verify_file(
            args.file,
            nonce=args.nonce,
            audience=args.audience,
            issuer_key=args.issuer_key,
            status_list=args.status_list,
            home=args.home,
        )
        print(report.summary())
        return 0 if report.valid else 1
    from zk.presentation import prove_threshold

    try:
        prove_threshold(
            args.credential, args.opening, args.threshold, args.nonce, args.audience, out=args.out
        )
    except ValueError as exc:
        print(f"cannot prove: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0
