"""HTTP routes for signed status passes (F14): issue a pass, check one online (``POST /verify``),
and the files an offline verifier needs (trust list, root key, revocation list).

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api.deps``, ``hesuan.services``,
``hesuan.domain``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hesuan.domain.access import Action
from hesuan.domain.passes import Verdict
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep, platform_of

__all__ = ["router"]

router = APIRouter(tags=["passes"])

_COSE = "application/cose"


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(alias="pass", min_length=1, max_length=4096,
                      description="the pass's text form, SP1:…")


class VerifyOut(BaseModel):
    valid: bool
    status: Literal["green", "yellow", "red", "popup"] | None = Field(
        description="the colour the pass states (also shown when it has expired or was revoked)")
    masked_name: str | None
    id_last4: str | None
    reason_code: Literal["malformed", "unknown_key", "bad_signature", "key_not_valid",
                         "not_yet_valid", "expired", "revoked"] | None
    reason: str
    issued_at: datetime | None
    expires_at: datetime | None
    key_id: str | None


def verdict_out(v: Verdict) -> VerifyOut:
    return VerifyOut(valid=v.valid, status=v.colour.value if v.colour else None,
                     masked_name=v.masked_name, id_last4=v.id_last4,
                     reason_code=v.failure.value if v.failure else None, reason=v.reason,
                     issued_at=v.issued_at, expires_at=v.expires_at, key_id=v.key_id)


class PassOut(BaseModel):
    text: str = Field(serialization_alias="pass", description="SP1:… — put it in a QR code")
    status: str
    reasons: list[str]
    issued_at: datetime
    expires_at: datetime
    key_id: str


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=20)


@router.post("/verify", response_model=VerifyOut, response_model_by_alias=True,
             openapi_extra=acts(Action.CHECK_PASS))
async def verify(me: Me, request: Request, body: VerifyIn) -> Response:
    """Check a status pass online: signature, key, expiry and revocation. Always 200: the
    answer says valid or not, the status, the masked name, and why."""
    # The venues' hot path: a check is ~0.1 ms of CPU, so it runs on the event loop (unless
    # the revocation list is due a reload), and the answer is serialised once, here, rather
    # than validated again against the response model.
    platform = platform_of(request)
    if platform.passes.verify_needs_store():
        verdict = await run_in_threadpool(platform.passes.verify, me, body.text)
    else:
        verdict = platform.passes.verify(me, body.text)
    return Response(verdict_out(verdict).model_dump_json(by_alias=True),
                    media_type="application/json")


@router.post("/people/{person_id}/pass", response_model_by_alias=True,
             openapi_extra=acts(Action.ISSUE_PASS))
def issue(me: Me, platform: PlatformDep, person_id: str) -> PassOut:
    """Issue the person's status pass (the person themself, or an officer of their region)."""
    p = platform.passes.issue_details(me, person_id)
    return PassOut(text=p.text, status=p.colour.value, reasons=list(p.reasons),
                   issued_at=p.issued_at, expires_at=p.expires_at, key_id=p.key_id)


@router.post("/people/{person_id}/pass.svg", response_class=Response,
             responses={200: {"content": {"image/svg+xml": {}}}},
             openapi_extra=acts(Action.ISSUE_PASS))
def issue_svg(me: Me, platform: PlatformDep, person_id: str) -> Response:
    return Response(platform.passes.issue_image(me, person_id, "svg"),
                    media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.post("/people/{person_id}/pass/revoke", openapi_extra=acts(Action.REVOKE_PASSES))
def revoke(me: Me, platform: PlatformDep, person_id: str, body: RevokeIn) -> dict[str, int]:
    return {"revoked": platform.passes.revoke(me, person_id, body.reason)}


@router.get("/passes/trust-list", response_class=Response,
            responses={200: {"content": {_COSE: {}}}}, openapi_extra=acts(Action.CHECK_PASS))
def trust_list(me: Me, platform: PlatformDep) -> Response:
    """The signed trust list of pass-signing keys (COSE_Sign1 by the root key)."""
    return Response(platform.passes.trust_list(me), media_type=_COSE)


@router.get("/passes/root-key", openapi_extra=acts(Action.CHECK_PASS))
def root_key(me: Me, platform: PlatformDep) -> dict[str, str]:
    """The root public key (install it on verifying devices out of band; this is a convenience
    for development)."""
    return {"alg": "Ed25519",
            "public_key": base64.b64encode(platform.passes.root_public_key(me)).decode()}


@router.get("/passes/revocations", response_class=Response,
            responses={200: {"content": {_COSE: {}}}}, openapi_extra=acts(Action.CHECK_PASS))
def revocations(me: Me, platform: PlatformDep) -> Response:
    """The signed list of hashed ids of revoked passes that have not yet expired."""
    return Response(platform.passes.revocation_list(me), media_type=_COSE)


@router.post("/passes/rotate-key", openapi_extra=acts(Action.ROTATE_PASS_KEY))
def rotate_key(me: Me, platform: PlatformDep) -> dict[str, str]:
    return {"key_id": platform.passes.rotate_key(me)}
