"""Zero-knowledge attestations: commitments, proofs, signatures, Merkle trees, and their verifier.

Modules (nothing heavy is imported here, so ``import zk.verify`` stays light):

- ``backends``: BLS12-381 behind one interface (py-arkworks-bls12381 fast, py-ecc reference)
- ``transcript``: Fiat–Shamir transcripts
- ``pedersen``: Pedersen commitments and the Schnorr opening proof
- ``rangeproof``: CDS bit OR-proofs, range and threshold proofs
- ``signatures``: BLS proof-of-possession signatures, the issuer key and its key-check value
- ``merkle``: RFC 9162 Merkle trees over canonically encoded rows
- ``envelope``: RFC 8785 canonical documents, strict codecs, issuer proofs
- ``credentials``, ``presentation``, ``statuslist``, ``attestations``: the document kinds
- ``verify``: the offline verifier

The format is documented in ``docs/attestations.md``.
"""
