"""Languages of the web pages: Simplified Chinese by default, English on request.

Every visible string lives in the Babel message catalogs under ``locale/`` (``messages.pot`` and
one ``messages.po`` per language), never in code: templates mark them with ``{{ _("…") }}`` and
Python modules with ``N_("…")``. At start each catalog is loaded from its compiled ``.mo`` when
that is present and newer than the ``.po``, and otherwise compiled from the ``.po`` in memory
(so a fresh checkout needs no build step). Regenerate the template and update the catalogs with
``scripts/web-messages.sh``.

Imports: Babel, Jinja2 (none), the standard library.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LOCALE", "LOCALES", "N_", "locale_dir", "pick_locale", "translations"]

#: Supported page languages: the cookie value and the language tag of each.
LOCALES: dict[str, str] = {"zh_CN": "zh-CN", "en": "en"}
DEFAULT_LOCALE = "zh_CN"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def locale_dir() -> Path:
    return Path(__file__).parent / "locale"


def pick_locale(cookie: str | None) -> str:
    return cookie if cookie in LOCALES else DEFAULT_LOCALE


@functools.cache
def translations(locale: str) -> gettext.GNUTranslations:
    """The compiled catalog of a language (loaded once per process)."""
    folder = locale_dir() / locale / "LC_MESSAGES"
    po, mo = folder / "messages.po", folder / "messages.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as f:
            return gettext.GNUTranslations(f)
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)
