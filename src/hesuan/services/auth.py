"""Users, log-in and bearer tokens.

Tokens are random and stored only as their SHA-256, so a copy of the database cannot be used to
log in. Passwords are argon2 hashes (via the ``PasswordHasher`` port).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from hesuan.domain import sign_in
from hesuan.domain.access import Action, Principal, Role, Target, authorize, check_account
from hesuan.domain.errors import Conflict, InvalidInput, NotAuthenticated, TooManyAttempts
from hesuan.services.context import Deps
from hesuan.services.people_ports import UserRow
from hesuan.services.ports import UnitOfWork

__all__ = ["SYSTEM", "AuthService"]

#: The principal for work the platform does on its own schedule (alerts, outbox, imports by CLI).
SYSTEM = Principal(user_id="system", username="system", role=Role.ADMIN)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


#: How long an authenticated token's principal is remembered in process, so a busy station
#: does not cost a database round trip per request (bench: +~1 transaction per scan). Tokens
#: still expire on time (to within this), and an unknown token is never cached.
PRINCIPAL_CACHE_TTL = timedelta(seconds=10)
_PRINCIPAL_CACHE_MAX = 10_000

_log = logging.getLogger("hesuan.auth")

#: How far back failed sign-ins are read, and after which they are forgotten.
_SIGN_IN_WINDOW = max(sign_in.ACCOUNT.window, sign_in.ADDRESS.window)


def _subject(user: UserRow | None) -> str:
    return "user:unknown" if user is None else f"user:{user.id}"


class AuthService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps
        self._principals: dict[str, tuple[datetime, Principal]] = {}
        self._dummy: str | None = None

    def create_user(self, actor: Principal, username: str, password: str, role: Role,
                    scope: str | None = None) -> str:
        authorize(actor, Action.CREATE_USER, Target(region=scope or ""))
        check_account(username, role, scope)
        if len(password) < 8:
            raise InvalidInput("password must be at least 8 characters", code="weak_password",
                               field="password")
        user_id = self._d.new_id()
        now = self._d.clock.now()
        with self._d.uow() as uow:
            if scope and not _scope_exists(uow, role, scope):
                # an account over nothing could see and do nothing, and no one would say why
                raise InvalidInput(f"scope: no {_SCOPE_KIND[role]} {scope!r}",
                                   code="unknown_scope", field="scope")
            if uow.users.user_by_name(username) is not None:
                raise Conflict(f"username {username!r} is taken", code="username_taken",
                               field="username")
            uow.users.add_user(UserRow(id=user_id, username=username,
                                       password_hash=self._d.passwords.hash(password),
                                       role=role.value, scope=scope, active=True,
                                       created_at=now))
            uow.audit_log.append(now, actor.username, "user.create", f"user:{user_id}",
                      {"username": username, "role": role.value, "scope": scope})
            uow.commit()
        return user_id

    def login(self, username: str, password: str, client: str | None = None) -> str:
        """A new bearer token for a right username and password.

        Failed sign-ins are limited per account and, when ``client`` (the client's address) is
        given, per address (``domain/sign_in.py``): while either must wait, a try is refused
        with ``TooManyAttempts`` before its password is checked. Each failure and each lock is
        audited and logged (never the password, nor an unknown username, which may be one).
        An unknown or inactive user costs the same one argon2 check as a wrong password, so
        the answer's time does not tell which usernames exist."""
        now = self._d.clock.now()
        keys = self._sign_in_keys(username, client)
        with self._d.uow(readonly=True) as uow:
            failures = uow.users.sign_in_failures([k for k, _, _ in keys], now - _SIGN_IN_WINDOW)
            user = uow.users.user_by_name(username)
        for key, kind, rule in keys:
            until = sign_in.next_allowed(failures[key], now, rule)
            if until is not None:
                wait = sign_in.retry_after(until, now)
                _log.info("sign-in refused: too many failures for this %s (%s from %s), "
                          "retry after %d s", kind, _subject(user), client or "-", wait)
                raise TooManyAttempts(f"too many failed sign-ins for this {kind}: try again "
                                      f"in {wait} s", retry_after=wait)
        # the dummy is made (once) before any check, so that the first sign-in of a process
        # costs the same whether the user exists or not
        dummy = self._dummy_hash()
        right = self._d.passwords.verify(user.password_hash if user else dummy, password)
        if not (right and user is not None and user.active):
            self._failed(keys, user, client, now)
            raise NotAuthenticated("username or password is wrong", code="bad_credentials")
        token = secrets.token_urlsafe(32)
        with self._d.uow() as uow:
            uow.users.add_token(_token_hash(token), user.id, now, now + self._d.limits.token_ttl)
            uow.users.clear_sign_in_failures(keys[0][0])
            uow.audit_log.append(now, username, "user.login", f"user:{user.id}", {})
            uow.commit()
        return token

    def _sign_in_keys(self, username: str,
                      client: str | None) -> list[tuple[bytes, str, sign_in.Throttle]]:
        """The keys a sign-in is counted under (account first): keyed hashes, so the table
        holds neither the usernames tried nor the addresses."""
        lookup = self._d.vault.lookup_hash
        keys = [(lookup("sign-in:account:" + username.strip().casefold()), "account",
                 sign_in.ACCOUNT)]
        if client:
            keys.append((lookup("sign-in:address:" + client), "address", sign_in.ADDRESS))
        return keys

    def _dummy_hash(self) -> str:
        """A hash of a random password, made once: what an unknown user's password is checked
        against."""
        if self._dummy is None:
            self._dummy = self._d.passwords.hash(secrets.token_urlsafe(24))
        return self._dummy

    def _failed(self, keys: list[tuple[bytes, str, sign_in.Throttle]],
                user: UserRow | None, client: str | None, now: datetime) -> None:
        """Record, audit and log a failed sign-in, and the lock it starts, if any."""
        subject = _subject(user)
        actor = user.username if user is not None else "anonymous"
        with self._d.uow() as uow:
            # read again in the writing transaction: another process may have added some
            failures = uow.users.sign_in_failures([k for k, _, _ in keys], now - _SIGN_IN_WINDOW)
            locked = [(kind, rule) for key, kind, rule in keys
                      if sign_in.locks(failures[key], now, rule)]
            uow.users.add_sign_in_failure([k for k, _, _ in keys], now, now - _SIGN_IN_WINDOW)
            count = len(failures[keys[0][0]]) + 1
            uow.audit_log.append(now, actor, "user.sign_in_failed", subject,
                      {"address": client, "account_failures": count})
            for kind, rule in locked:
                uow.audit_log.append(now, actor, "user.sign_in_locked", subject,
                          {"address": client, "locked": kind,
                           "until": (now + rule.lock_for).isoformat()})
            uow.commit()
        _log.warning("sign-in failed: %s from %s (%d failures of the account in %s)",
                     subject, client or "-", count, _SIGN_IN_WINDOW)
        for kind, rule in locked:
            _log.warning("sign-in locked: this %s (%s from %s) for %s", kind, subject,
                         client or "-", rule.lock_for)

    def logout(self, token: str) -> None:
        """End a session: the token is deleted and forgotten by this process at once (other
        processes forget it within ``PRINCIPAL_CACHE_TTL``)."""
        token_hash = _token_hash(token)
        self._principals.pop(token_hash, None)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            user_id = uow.users.delete_token(token_hash)
            if user_id is not None:
                uow.audit_log.append(now, "session", "user.logout", f"user:{user_id}", {})
            uow.commit()

    def cached(self, token: str) -> Principal | None:
        """The principal of a token seen in the last ``PRINCIPAL_CACHE_TTL``, without touching
        the store (None: ask ``authenticate``)."""
        return self._cached(_token_hash(token), self._d.clock.now())

    def _cached(self, token_hash: str, now: datetime) -> Principal | None:
        hit = self._principals.get(token_hash)
        return hit[1] if hit is not None and now < hit[0] else None

    def authenticate(self, token: str) -> Principal:
        token_hash, now = _token_hash(token), self._d.clock.now()
        hit = self._cached(token_hash, now)
        if hit is not None:
            return hit
        with self._d.uow(readonly=True) as uow:
            principal = uow.users.principal_for_token(token_hash, now)
        if principal is None:
            self._principals.pop(token_hash, None)
            raise NotAuthenticated("bearer token is missing, unknown or expired",
                                   code="bad_token")
        if len(self._principals) >= _PRINCIPAL_CACHE_MAX:
            self._principals.clear()
        self._principals[token_hash] = (now + PRINCIPAL_CACHE_TTL, principal)
        return principal


#: What a scoped role's scope names.
_SCOPE_KIND = {Role.HEALTH_OFFICER: "region", Role.GRID_WORKER: "grid", Role.SAMPLER: "site",
               Role.SITE_LEAD: "site", Role.LAB: "lab", Role.VENUE: "venue or checkpoint",
               Role.RESIDENT: "person"}


def _scope_exists(uow: UnitOfWork, role: Role, scope: str) -> bool:
    """Whether the place, lab or person a role's scope names is one the platform knows."""
    if role is Role.HEALTH_OFFICER:
        return uow.places.region(scope) is not None
    if role is Role.GRID_WORKER:
        region = uow.places.region(scope)
        return region is not None and region.level == "grid"
    if role in (Role.SAMPLER, Role.SITE_LEAD):
        return bool(uow.places.sites([scope]))
    if role is Role.LAB:
        return uow.places.lab(scope) is not None
    if role is Role.VENUE:
        return (uow.venues.venue(scope) is not None
                or any(c.id == scope for c in uow.fence.checkpoints()))
    if role is Role.RESIDENT:
        return uow.people.person(scope) is not None
    return True
