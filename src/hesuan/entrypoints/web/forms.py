"""Dependencies of the page routes: the signed-in principal, and form bodies that have passed
their CSRF check.

Imports: FastAPI/Starlette, ``hesuan.domain``, the web package.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile

from hesuan.domain.access import Principal
from hesuan.domain.digits import is_digits
from hesuan.domain.errors import InvalidInput
from hesuan.entrypoints.web.session import check_csrf, check_login_csrf, principal

__all__ = ["LoginForm", "SignedForm", "WebMe", "text", "upload", "whole_number"]

WebMe = Annotated[Principal, Depends(principal)]

_MAX_FIELD = 10_000_000  # a pasted results file can be large; nothing else comes near


async def _signed_form(request: Request) -> FormData:
    form = await request.form(max_part_size=_MAX_FIELD)
    csrf = form.get("csrf")
    check_csrf(request, csrf if isinstance(csrf, str) else None)
    return form


async def _login_form(request: Request) -> FormData:
    form = await request.form()
    csrf = form.get("csrf")
    check_login_csrf(request, csrf if isinstance(csrf, str) else None)
    return form


SignedForm = Annotated[FormData, Depends(_signed_form)]
LoginForm = Annotated[FormData, Depends(_login_form)]


def whole_number(value: str) -> int | None:
    """``value`` as a whole number written in ASCII digits, else None (``"²".isdigit()`` is
    true, and ``int("²")`` raises)."""
    return int(value) if is_digits(value) else None


def text(form: FormData, name: str, *, required: bool = False, max_len: int = 200) -> str:
    """A text field, stripped; '' when absent (or an error naming the field when required)."""
    v = form.get(name)
    value = v.strip() if isinstance(v, str) else ""
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters", code="bad_character",
                           field=name)
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters", code="too_long",
                           field=name)
    if required and not value:
        raise InvalidInput(f"{name} is required", code="missing_field", field=name)
    return value


def upload(form: FormData, name: str) -> UploadFile | None:
    v = form.get(name)
    return v if isinstance(v, UploadFile) and v.filename else None
