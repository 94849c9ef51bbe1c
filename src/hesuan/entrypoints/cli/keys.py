"""``hesuan keys …``: the data key file — personal data stored under the legacy keys of the
secret key moved under it (docs/SECURITY.md §5).

Imports: Typer, ``hesuan.entrypoints.cli.common``; at call time ``hesuan.bootstrap``,
``hesuan.adapters.db.migrate``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hesuan.domain.errors import HesuanError
from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    JsonOpt,
    console,
    environment_settings,
    failed,
    print_json,
    working,
)

__all__ = ["register"]

keys_app = typer.Typer(help="The data key file: personal data moved under it.",
                       no_args_is_help=True)


@keys_app.command("rekey-data")
def rekey_data(
        batch: Annotated[int, typer.Option(help="rows a transaction moves", min=1)] = 2000,
        as_json: JsonOpt = False) -> None:
    """Move personal data from the legacy keys of the secret key to the data key file.

    ID numbers, names, phones (and their lookup hashes) and lab messages, in batches, each a
    transaction with its audit entry; the data key file (HESUAN_DATA_KEY_FILE) is put in place
    when all is moved. Stop the app processes first; a run that stops is finished by running
    it again. Back the new data key file up apart from the database."""
    from hesuan.adapters.db.migrate import require_current
    from hesuan.bootstrap import data_keys

    settings = environment_settings()
    try:
        require_current(settings.database_url)
        with data_keys(settings) as keys, working("moving personal data to the data key"):
            report = keys.rekey(CLI_PRINCIPAL, batch)
    except HesuanError as exc:
        raise failed(exc) from None
    if as_json:
        print_json({"people": report.people, "lab_messages": report.lab_messages,
                    "data_key_file": str(settings.data_key_path)})
        return
    console.print(f"{report.people} people and {report.lab_messages} lab messages moved to "
                  f"the data key; {settings.data_key_path} in place: back it up apart from "
                  f"the database")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
