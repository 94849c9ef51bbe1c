"""Entry points: the HTTP API (FastAPI), the CLI (Typer). Thin: parse → service → render.

May import: ``hesuan.bootstrap``, ``hesuan.services``, ``hesuan.domain``, ``hesuan.config``,
``hesuan.sim`` and frameworks. Never an adapter directly.
"""
