"""Signed status passes (F14): issuing them, checking them online, the trust and revocation lists,
key rotation and revocation.

A pass states a person's status colour until an expiry (at most 24 h, never past their next due
time), signed with the platform's current pass key. Venues check passes offline with the trust
list (``hesuan.adapters.passes.verifier``); ``verify`` here is the online check, which also knows
the revocations. A pass is revoked when a later positive result overtakes it (in the results
transaction) or by a health officer; the revocation list holds only hashes of pass ids.

Where the status comes from is a ``StatusSource`` (the person's materialised status).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import math
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from hesuan.domain.access import Action, Principal, authorize
from hesuan.domain.errors import Conflict, InvalidInput, NotFound, TooManyAttempts
from hesuan.domain.passes import (
    ROTATION_INTERVAL,
    PassClaims,
    PassColour,
    Verdict,
    next_rotation,
    pass_expiry,
    pass_id_hash,
)
from hesuan.services.context import Deps
from hesuan.services.ports import PassKeys, StatusSource
from hesuan.services.status_ports import IssuedPass
from hesuan.services.targets import no_such_person, person_target

__all__ = ["CHECK_AUDIT_EVERY", "IssuedPassView", "PassService"]

#: How often the entry point writes the pass checks made since the last time to the audit log
#: (``flush_checks``): one entry per checking account, so the venues' hot path never waits on
#: the audit chain, and a crash loses at most this long of the record of checks.
CHECK_AUDIT_EVERY = timedelta(seconds=5)

_MAX_TEXT = 4096
_ISSUE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class IssuedPassView:
    text: str
    colour: PassColour
    reasons: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    key_id: str


class PassService:
    def __init__(self, deps: Deps, keys: PassKeys, status: StatusSource,
                 revocation_refresh: timedelta = timedelta(seconds=5)) -> None:
        self._d = deps
        self._keys = keys
        self._status = status
        self._refresh = revocation_refresh
        self._lock = threading.Lock()
        self._revoked: tuple[datetime, frozenset[str]] | None = None
        self._checks_lock = threading.Lock()
        self._checks: list[tuple[str, str | None, bool]] = []

    @property
    def status_source(self) -> StatusSource:
        return self._status

    # -- issuing ---------------------------------------------------------------------------

    def issue(self, actor: Principal, person_id: str) -> str:
        """The person's status pass, as text (``SP1:…``)."""
        return self.issue_details(actor, person_id).text

    def issue_details(self, actor: Principal, person_id: str) -> IssuedPassView:
        with self._d.uow(readonly=True) as uow:
            row = uow.people.person(person_id)
        if row is None:
            raise NotFound("no such person", code="unknown_person", field="person_id")
        authorize(actor, Action.ISSUE_PASS, person_target(row), hidden=no_such_person())
        for _ in range(_ISSUE_ATTEMPTS):
            read_at = self._d.clock.now()
            status = self._status.current(person_id)
            if status is None:
                raise NotFound("no such person", code="unknown_person", field="person_id")
            issued = read_at.replace(microsecond=0)
            expires = pass_expiry(read_at, status.valid_until).replace(microsecond=0)
            if expires <= issued:
                expires = issued + timedelta(seconds=1)
            pass_id = secrets.token_bytes(16)
            claims = PassClaims(self._keys.issuer, issued, expires, pass_id, status.colour,
                                status.masked_name, status.id_last4)
            text = self._keys.sign(claims)
            kid = self._keys.key_id(read_at)
            with self._d.uow() as uow:
                live = uow.passes.add_pass(IssuedPass(pass_id_hash(pass_id), person_id, kid,
                                               status.colour.value, issued, expires), read_at)
                uow.audit_log.append(read_at, actor.username, "pass.issue", f"person:{person_id}",
                          {"colour": status.colour.value, "expires": expires.isoformat(),
                           "key_id": kid, "live": live})
                uow.commit()
            if live:
                return IssuedPassView(text, status.colour, status.reasons, issued, expires, kid)
            self._invalidate()
        raise Conflict("the person's status changed while the pass was issued; try again",
                       code="status_changed")

    def issue_image(self, actor: Principal, person_id: str, fmt: str) -> bytes:
        """A freshly issued pass as a QR code (``svg`` or ``png``)."""
        if fmt not in ("svg", "png"):
            raise InvalidInput("format must be svg or png", code="bad_format", field="format")
        return self._d.qr.render(self.issue(actor, person_id), fmt, 4)

    # -- checking --------------------------------------------------------------------------

    def verify(self, actor: Principal, text: str) -> Verdict:
        """Online check of a pass: signature, key, expiry and revocation. Any signed-in user
        (venues above all) may check; nothing about the person is read from storage."""
        if len(text) > _MAX_TEXT:
            raise InvalidInput("a status pass is at most 4096 characters", code="too_long",
                               field="pass")
        now = self._d.clock.now()
        verdict = self._keys.verify(text, now, self._revoked_now(now))
        with self._checks_lock:  # audited by ``flush_checks``
            self._checks.append((actor.username, verdict.pass_hash, verdict.valid))
        return verdict

    def flush_checks(self) -> int:
        """Write the pass checks made since the last flush to the audit log: per checking
        account, how many, how many valid, and the hashed ids of the passes read. Returns the
        number of checks written."""
        with self._checks_lock:
            checks, self._checks = self._checks, []
        if not checks:
            return 0
        by_actor: dict[str, list[tuple[str | None, bool]]] = {}
        for username, pass_hash, valid in checks:
            by_actor.setdefault(username, []).append((pass_hash, valid))
        now = self._d.clock.now()
        with self._d.uow() as uow:
            for username, seen in sorted(by_actor.items()):
                uow.audit_log.append(now, username, "pass.verify", "passes",
                          {"checks": len(seen), "valid": sum(v for _, v in seen),
                           "passes": sorted({h for h, _ in seen if h is not None})})
            uow.commit()
        return len(checks)

    def verify_needs_store(self) -> bool:
        """Whether ``verify`` would read the store now (its revocation list is due a reload);
        when not, it is pure CPU and the API answers it on the event loop."""
        return self._fresh_revoked(self._d.clock.now()) is None

    def _fresh_revoked(self, now: datetime) -> frozenset[str] | None:
        """The cached revocation list, unless it is due a reload."""
        cached = self._revoked
        if cached is not None and cached[0] <= now < cached[0] + self._refresh:
            return cached[1]
        return None

    def _revoked_now(self, now: datetime) -> frozenset[str]:
        hashes = self._fresh_revoked(now)
        if hashes is not None:
            return hashes
        with self._lock:
            hashes = self._fresh_revoked(now)
            if hashes is not None:
                return hashes
            with self._d.uow(readonly=True) as uow:
                hashes = frozenset(uow.passes.revoked_pass_hashes(now))
            self._revoked = (now, hashes)
            return hashes

    def _invalidate(self) -> None:
        with self._lock:
            self._revoked = None

    # -- lists for offline verifiers -------------------------------------------------------

    def trust_list(self, actor: Principal) -> bytes:
        """The signed trust list (COSE_Sign1 by the root key) of pass-signing keys."""
        return self._keys.trust_list(self._d.clock.now())

    def root_public_key(self, actor: Principal) -> bytes:
        return self._keys.root_public(self._d.clock.now())

    def revocation_list(self, actor: Principal) -> bytes:
        """The signed list of hashed ids of revoked passes that have not yet expired."""
        now = self._d.clock.now()
        with self._d.uow(readonly=True) as uow:
            hashes = uow.passes.revoked_pass_hashes(now)
        return self._keys.sign_revocations(hashes, now)

    # -- administration --------------------------------------------------------------------

    def rotate_key(self, actor: Principal) -> str:
        """Make a new pass-signing key current: at most one rotation per ``ROTATION_INTERVAL``
        (``TooManyAttempts`` before then). Each rotation, and each refused one, is audited."""
        authorize(actor, Action.ROTATE_PASS_KEY)
        now = self._d.clock.now()
        kid = None
        if next_rotation(self._keys.last_rotation(now), now) is None:
            kid = self._keys.rotate(now, unless_since=now - ROTATION_INTERVAL)
        with self._d.uow() as uow:
            if kid is None:  # refused: rotated too recently, here or by another process
                until = next_rotation(self._keys.last_rotation(now), now) or now
                wait = math.ceil((until - now).total_seconds())
                uow.audit_log.append(now, actor.username, "pass.rotate_key_refused", "pass_key",
                          {"retry_after": wait})
                uow.commit()
                raise TooManyAttempts(
                    f"the pass-signing key was rotated less than {ROTATION_INTERVAL} ago: "
                    f"try again in {wait} s", code="rotated_recently", retry_after=wait)
            uow.audit_log.append(now, actor.username, "pass.rotate_key", f"pass_key:{kid}", {})
            uow.commit()
        return kid

    def revoke(self, actor: Principal, person_id: str, reason: str) -> int:
        """Revoke every live pass of a person (a health officer of their region)."""
        reason = reason.strip()
        if not reason or len(reason) > 20:
            raise InvalidInput("reason must be 1-20 characters", code="bad_reason",
                               field="reason")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise NotFound("no such person", code="unknown_person", field="person_id")
            authorize(actor, Action.REVOKE_PASSES, person_target(row), field="person_id")
            n = uow.passes.revoke_passes([person_id], now, reason, keep_red=False)
            uow.audit_log.append(now, actor.username, "pass.revoke", f"person:{person_id}",
                      {"reason": reason, "revoked": n})
            uow.commit()
        self._invalidate()
        return n

