"""QR rendering with segno (the ``QrRenderer`` port).

Imports: ``segno``, the standard library.
"""

from __future__ import annotations

import io

import segno

__all__ = ["SegnoQr"]


class SegnoQr:
    def render(self, text: str, fmt: str, scale: int) -> bytes:
        qr = segno.make(text, error="m", micro=False)
        buf = io.BytesIO()
        qr.save(buf, kind=fmt, scale=scale, border=2)
        return buf.getvalue()
