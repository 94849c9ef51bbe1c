"""``hesuan verify`` (a signed status pass, offline, no database) and ``hesuan passes …``
(issue, keys, lists for venue devices, revoke; expired passes go with ``hesuan retention run``).

``hesuan verify 'SP1:…'`` checks a pass with only a trust list and root key (by default the ones
in the key directory, ``HESUAN_PASS_KEY_DIR``) and the current time; exit status 0 when the
pass is valid, 1 when it is not, 2 (``InvalidInput``) when the trust list, root key or
revocation list cannot be used. A valid verdict checked against no revocation list, or one
older than the domain's ``REVOCATIONS_FRESH_FOR``, carries a note (stderr; ``--json``:
``revocations_note``); so does a pass signed with a key the trust list does not hold, with the
list's age (``trust_list_note``: a key made since is unknown to it).

Imports: Typer, ``hesuan.domain``, ``hesuan.entrypoints.cli.common``; at call time
``hesuan.adapters`` (the offline verifier and key directory, which need no platform) and
``hesuan.config``.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hesuan.domain.errors import InvalidInput
from hesuan.domain.instants import iso_utc
from hesuan.domain.passes import revocations_note, trust_list_note
from hesuan.entrypoints.cli.common import (
    CLI_PRINCIPAL,
    EXIT_NOT_VALID,
    console,
    environment_settings,
    failed,
    opened,
)

if TYPE_CHECKING:
    from hesuan.domain.passes import Verdict

__all__ = ["register", "verdict_dict"]

passes_app = typer.Typer(help="Signed status passes.", no_args_is_help=True)


def verdict_dict(v: Verdict, now: datetime) -> dict[str, Any]:
    return {"valid": v.valid, "status": v.colour.value if v.colour else None,
            "masked_name": v.masked_name, "id_last4": v.id_last4,
            "reason_code": v.failure.value if v.failure else None, "reason": v.reason,
            "issued_at": iso_utc(v.issued_at) if v.issued_at else None,
            "expires_at": iso_utc(v.expires_at) if v.expires_at else None,
            "key_id": v.key_id,
            "revocations_as_of": iso_utc(v.revocations_as_of) if v.revocations_as_of else None,
            "revocations_note": revocations_note(v, now),
            "trust_list_as_of": iso_utc(v.trust_list_as_of) if v.trust_list_as_of else None,
            "trust_list_note": trust_list_note(v, now)}


def _print_verdict(v: Verdict, now: datetime, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(verdict_dict(v, now), ensure_ascii=False) + "\n")
        return
    who = f"{v.masked_name} (ID …{v.id_last4})" if v.masked_name else ""
    if v.valid:
        sys.stdout.write(f"VALID {v.colour} {who} — {v.reason}\n")
        note = revocations_note(v, now)
        if note is not None:
            sys.stderr.write(f"note: {note}\n")
    else:
        shown = f" [{v.colour}] {who}" if v.colour else ""
        sys.stdout.write(f"INVALID ({v.failure}){shown} — {v.reason}\n")
        note = trust_list_note(v, now)
        if note is not None:
            sys.stderr.write(f"note: {note}\n")


def verify(
    text: Annotated[str, typer.Argument(help="the pass, SP1:…")],
    trust_list: Annotated[Path | None, typer.Option(
        help="signed trust list file (default: the key directory's trust-list.cose)",
        exists=True, dir_okay=False)] = None,
    root_key: Annotated[list[Path] | None, typer.Option(
        help="root public key file(s) (default: the key directory's root.pub)",
        exists=True, dir_okay=False)] = None,
    revocations: Annotated[Path | None, typer.Option(
        help="signed revocation list file", exists=True, dir_okay=False)] = None,
    at: Annotated[datetime | None, typer.Option(
        help="check as of this time (ISO 8601, default now)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """Check a status pass offline: valid or not, status, masked name, and why."""
    from hesuan.adapters.clock import SystemClock
    from hesuan.adapters.passes.verifier import OfflineVerifier, TrustListError

    keys_dir = environment_settings().pass_key_dir
    trust = trust_list or keys_dir / "trust-list.cose"
    roots = root_key or [keys_dir / "root.pub"]
    now = SystemClock().now()
    if at is not None:
        now = at if at.tzinfo else at.replace(tzinfo=now.tzinfo)
    try:
        verifier = OfflineVerifier.from_files(trust, roots, revocations, now)
    except (OSError, TrustListError, ValueError) as exc:
        raise failed(InvalidInput(f"cannot use the trust list: {exc}", code="bad_trust_list",
                                  field="trust_list")) from None
    verdict = verifier.verify(text, now)
    _print_verdict(verdict, now, as_json)
    if not verdict.valid:
        raise typer.Exit(EXIT_NOT_VALID)


@passes_app.command("issue")
def issue(person_id: str,
          qr: Annotated[Path | None, typer.Option(
              help="also write the QR code here (.svg or .png)")] = None) -> None:
    """Issue a person's status pass and print it."""
    with opened() as p:
        v = p.passes.issue_details(CLI_PRINCIPAL, person_id)
        if qr is not None:
            fmt = "png" if qr.suffix.lower() == ".png" else "svg"
            qr.write_bytes(p.deps.qr.render(v.text, fmt, 4))
    console.print(f"{v.colour} until {v.expires_at:%Y-%m-%d %H:%M} UTC, key {v.key_id}")
    sys.stdout.write(v.text + "\n")


@passes_app.command("init-keys")
def init_keys() -> None:
    """Make the root key and the first pass-signing key (needed once in production)."""
    from hesuan.adapters.clock import SystemClock
    from hesuan.adapters.passes.keys import PassKeyStore

    s = environment_settings()
    store = PassKeyStore(s.pass_key_dir, s.issuer, create=True, alg=s.pass_alg)
    made = store.init(SystemClock().now())
    console.print(f"{'made' if made else 'already present'}: keys in {s.pass_key_dir}")


@passes_app.command("rotate-key")
def rotate_key() -> None:
    """Make a new pass-signing key current; the old one stays trusted until its passes end."""
    with opened() as p:
        kid = p.passes.rotate_key(CLI_PRINCIPAL)
    console.print(f"new pass-signing key {kid}; export the trust list to verifiers")


@passes_app.command("export")
def export(directory: Annotated[Path, typer.Argument(file_okay=False)]) -> None:
    """Write what a venue device needs: root.pub, trust-list.cose, revocations.cose."""
    directory.mkdir(parents=True, exist_ok=True)
    with opened() as p:
        (directory / "root.pub").write_text(
            base64.b64encode(p.passes.root_public_key(CLI_PRINCIPAL)).decode() + "\n")
        (directory / "trust-list.cose").write_bytes(p.passes.trust_list(CLI_PRINCIPAL))
        (directory / "revocations.cose").write_bytes(p.passes.revocation_list(CLI_PRINCIPAL))
    console.print(f"wrote root.pub, trust-list.cose, revocations.cose to {directory}")


@passes_app.command("revoke")
def revoke(person_id: str,
           reason: Annotated[str, typer.Option(help="short reason code")]) -> None:
    """Revoke every live pass of a person."""
    with opened() as p:
        n = p.passes.revoke(CLI_PRINCIPAL, person_id, reason)
    console.print(f"revoked {n} pass(es)")


def register(app: typer.Typer) -> None:
    app.add_typer(passes_app, name="passes")
    app.command("verify")(verify)
