"""Signed status passes: COSE_Sign1 (Ed25519) over CBOR claims, Base45 text ``SP1:``, the signed
trust list of keys, the revocation list, the key directory with rotation, and the standalone
offline verifier (``hesuan.adapters.passes.verifier``). See docs/PASSES.md.
"""
