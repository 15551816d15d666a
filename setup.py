"""The one compiled module: zk._sha256tree, RFC 9162 hashing over OpenSSL's SHA-256 (libcrypto).

Everything else is in pyproject.toml. Optional: where it cannot be built (no C compiler or no
OpenSSL headers, e.g. a verifier-only install) zk.merkle uses hashlib; `zk.merkle.HASHER` says
which, and the snapshot asset reports it.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zk._sha256tree",
            sources=["zk/_sha256tree.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]
)
