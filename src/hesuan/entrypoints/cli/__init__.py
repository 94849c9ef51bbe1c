"""The ``hesuan`` command line (Typer + Rich). Thin: parse → service → render.

``app`` is the root command, which only registers the command groups; ``common`` is the leaf
every group imports (console, the platform opener, the error → exit-code table, JSON output);
each other module is one group of commands, named after what it works on. A new command goes
into the module of its group, or into a new module with a ``register(app)`` that ``app`` calls.

Imports: nothing at import time (``main`` loads the root command when it runs).
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """The console script ``hesuan``."""
    from hesuan.entrypoints.cli.app import main as run

    run()
