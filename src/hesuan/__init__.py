"""Hesuan (核酸): a city's routine PCR mass-testing platform, sample → deliver → test → report.

Layers (enforced by import-linter, see pyproject.toml): ``domain`` (pure rules) ←
``services`` (use cases, the only entry) ← ``adapters`` (SQL, crypto, QR, SMS) ←
``bootstrap`` (wiring) ← ``sim`` / ``entrypoints`` (API, CLI).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
