"""``python -m hesuan.entrypoints.cli``: the ``hesuan`` command."""

from hesuan.entrypoints.cli.app import main

main()
