"""Users, log-in and bearer tokens; the audit chain check.

Tokens are random and stored only as their SHA-256, so a copy of the database cannot be used to
log in. Passwords are argon2 hashes (via the ``PasswordHasher`` port).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from hesuan.domain.access import Principal, Role, require
from hesuan.domain.audit import GENESIS, verify_chain
from hesuan.domain.errors import Conflict, InvalidInput, NotAuthenticated
from hesuan.services.context import Deps

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


class AuthService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps
        self._principals: dict[str, tuple[datetime, Principal]] = {}

    def create_user(self, actor: Principal, username: str, password: str, role: Role,
                    scope: str | None = None) -> str:
        require(actor, Role.ADMIN, action="create users")
        if len(password) < 8:
            raise InvalidInput("password must be at least 8 characters", code="weak_password",
                               field="password")
        if role is not Role.ADMIN and role is not Role.COURIER and not scope:
            raise InvalidInput(f"scope is required for role {role}", code="missing_scope",
                               field="scope")
        user_id = self._d.new_id()
        now = self._d.clock.now()
        with self._d.uow() as uow:
            if uow.user_by_name(username) is not None:
                raise Conflict(f"username {username!r} is taken", code="username_taken",
                               field="username")
            uow.add_user({"id": user_id, "username": username,
                          "password_hash": self._d.passwords.hash(password), "role": role.value,
                          "scope": scope, "active": True, "created_at": now})
            uow.audit(now, actor.username, "user.create", f"user:{user_id}",
                      {"username": username, "role": role.value, "scope": scope})
            uow.commit()
        return user_id

    def login(self, username: str, password: str) -> str:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            user = uow.user_by_name(username)
            if (user is None or not user["active"]
                    or not self._d.passwords.verify(user["password_hash"], password)):
                raise NotAuthenticated("username or password is wrong", code="bad_credentials")
            token = secrets.token_urlsafe(32)
            uow.add_token(_token_hash(token), user["id"], now, now + self._d.limits.token_ttl)
            uow.audit(now, username, "user.login", f"user:{user['id']}", {})
            uow.commit()
        return token

    def logout(self, token: str) -> None:
        """End a session: the token is deleted and forgotten by this process at once (other
        processes forget it within ``PRINCIPAL_CACHE_TTL``)."""
        token_hash = _token_hash(token)
        self._principals.pop(token_hash, None)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            user_id = uow.delete_token(token_hash)
            if user_id is not None:
                uow.audit(now, "session", "user.logout", f"user:{user_id}", {})
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
            principal = uow.principal_for_token(token_hash, now)
        if principal is None:
            self._principals.pop(token_hash, None)
            raise NotAuthenticated("bearer token is missing, unknown or expired",
                                   code="bad_token")
        if len(self._principals) >= _PRINCIPAL_CACHE_MAX:
            self._principals.clear()
        self._principals[token_hash] = (now + PRINCIPAL_CACHE_TTL, principal)
        return principal

    def verify_audit(self, actor: Principal) -> tuple[int, int | None]:
        """Check the whole audit chain; return (entries checked, first broken seq or None)."""
        require(actor, Role.ADMIN, action="verify the audit log")
        checked, prev, after = 0, GENESIS, 0
        with self._d.uow(readonly=True) as uow:
            while True:
                page = uow.audit_entries(after, 5000)
                if not page:
                    return checked, None
                if page[0].seq != after + 1:
                    return checked, after + 1
                broken = verify_chain(page, prev)
                if broken is not None:
                    return checked, broken
                checked += len(page)
                prev, after = page[-1].hash, page[-1].seq
