"""Pure domain rules and value objects of Hesuan.

May import: the standard library, and ``stdnum`` (pure functions that validate identity numbers
and check digits; no I/O). Never SQLAlchemy, FastAPI, pydantic, a clock or the network: every rule
takes ``now`` and its facts as arguments.
"""
