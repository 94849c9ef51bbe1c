"""QR rendering with segno (the ``QrRenderer`` port).

Every code has the quiet zone ISO/IEC 18004 asks for (4 modules of light around the symbol)
and a white background: a transparent SVG laid on a dark page or a coloured card cannot be
read by a scanner, and a narrower margin makes the finder patterns hard to find.

Imports: ``segno``, the standard library.
"""

from __future__ import annotations

import io

import segno

__all__ = ["QUIET_ZONE", "SegnoQr"]

#: Modules of light around the symbol (ISO/IEC 18004: at least 4 for QR codes).
QUIET_ZONE = 4


class SegnoQr:
    def render(self, text: str, fmt: str, scale: int) -> bytes:
        qr = segno.make(text, error="m", micro=False)
        buf = io.BytesIO()
        qr.save(buf, kind=fmt, scale=scale, border=QUIET_ZONE, dark="#000", light="#fff")
        return buf.getvalue()
