"""Codes written in digits: region and grid codes, ID numbers, barcodes, counts typed into a
form.

``str.isdigit`` is true of any script's digits (``"²"``, ``"１２"``) that ``int`` then refuses
or reads as other numbers; a code here is ASCII digits only.

Imports: standard library only.
"""

from __future__ import annotations

__all__ = ["is_digits"]


def is_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits."""
    return text.isascii() and text.isdigit()
