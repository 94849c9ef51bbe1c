"""Use cases of Hesuan: the only entry to the core for the API, the web pages, the CLI and the
simulator. Services check roles and scopes, call the pure domain rules, and write through the
ports in ``services.ports`` (storage, clock, crypto, QR, SMS) inside one unit of work.

May import: ``hesuan.domain`` and the standard library. Never an adapter or a framework.
"""
