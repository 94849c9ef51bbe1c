"""Adapters at the edge: SQL storage (SQLite, PostgreSQL), crypto, QR rendering, SMS senders.

May import: ``hesuan.services`` (to implement its ports), ``hesuan.domain``, ``hesuan.config``,
and third-party libraries. Never an entry point.
"""
