"""The encodings a text file saved on an office's or a lab's Windows comes in, decided one way
for every reader (the people and results tables, ``entrypoints.tables``; the instruments' text
exports, ``adapters.instruments``): UTF-8 with or without a byte-order mark, UTF-16 with one
(Excel's "Unicode text"), or GB18030 (and its subset GBK, what a Chinese Windows writes). UTF-8
is tried first, then GB18030; a byte-order mark decides alone. Text holding NUL characters is
none of them.

Big5 (Traditional Chinese, as Excel saves on a Taiwan or Hong Kong Windows) decodes as GB18030
without an error, into other characters: every Big5 character is two bytes GB18030 also reads.
Text that is not UTF-8 is refused as Big5 when its first MiB decodes as Big5 (``cp950`` or
``big5hkscs``) and more of its two-byte characters are common ones read as Big5 (its symbols
and its 5,401 frequent hanzi, A140-A3BF and A440-C67E) than read as GB18030 (GB2312's
punctuation and 6,763 hanzi, rows A1-A3 and B0-F7, trail A1-FE). Text whose characters beyond
ASCII are all GB2312's punctuation and hanzi is never refused: read as GB18030, each is common.
Big5 text read as GB18030 has a third or less of its characters there, the rest in GBK's rarely
used extensions, kana, Greek and box drawing, while read as Big5 nearly all are common. Big5 is
refused rather than read as Big5: its variants (Microsoft's, Hong Kong's HKSCS) disagree on
some characters, and a name read in the wrong one would be stored wrong without a word.

Imports: the standard library only.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter

__all__ = ["HEAD_BYTES", "candidates", "decode_text", "decodes_head", "looks_like_big5"]

#: How much of a file its Big5 look is judged on.
HEAD_BYTES = 1 << 20
_ENCODINGS = ("utf-8", "gb18030")
#: Big5 as Excel writes it on a Taiwan (Microsoft's, ``cp950``) or a Hong Kong Windows (with
#: HKSCS's characters).
_BIG5 = ("cp950", "big5hkscs")
#: A two-byte character of GB18030 or Big5: a lead byte 81-FE and its trail byte (a Big5 trail
#: is 40-7E or A1-FE, never a digit, so none starts GB18030's four-byte characters).
_TWO_BYTES = re.compile(rb"[\x81-\xfe][\x40-\xfe]")


def candidates(head: bytes) -> tuple[str, ...]:
    """The encodings to try, in order, for text beginning with ``head`` (its first 4 bytes or
    more): the one its byte-order mark names, else UTF-8 then GB18030."""
    if head.startswith(codecs.BOM_UTF8):
        return ("utf-8-sig",)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ("utf-16",)
    return _ENCODINGS


def _gb_common(code: int) -> bool:
    """GB2312's punctuation and full-width forms (rows A1-A3) and its hanzi (rows B0-F7)."""
    lead, trail = code >> 8, code & 0xFF
    return 0xA1 <= trail <= 0xFE and (0xA1 <= lead <= 0xA3 or 0xB0 <= lead <= 0xF7)


def _big5_common(code: int) -> bool:
    """Big5's symbols (A140-A3BF) and its frequent hanzi (A440-C67E)."""
    return 0xA140 <= code <= 0xA3BF or 0xA440 <= code <= 0xC67E


def decodes_head(head: bytes, encoding: str) -> bool:
    """Whether ``head``, a file's beginning, decodes (a character cut at its end aside)."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(head)
    except UnicodeDecodeError:
        return False
    return True


def looks_like_big5(head: bytes) -> bool:
    """Whether text GB18030 decodes is Big5 (the module's docstring has the rule), from its
    first ``HEAD_BYTES``."""
    head = head[:HEAD_BYTES]
    if not any(decodes_head(head, encoding) for encoding in _BIG5):
        return False
    counts = Counter(_TWO_BYTES.findall(head))
    as_gb = sum(n for pair, n in counts.items() if _gb_common(int.from_bytes(pair)))
    as_big5 = sum(n for pair, n in counts.items() if _big5_common(int.from_bytes(pair)))
    return as_big5 > as_gb


def decode_text(data: bytes) -> str | None:
    """``data`` as text in the first of its ``candidates`` it decodes in; None when it decodes in
    none of them, holds NULs, or is Big5 read as GB18030."""
    for encoding in candidates(data[:4]):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or (encoding == "gb18030" and looks_like_big5(data)):
            return None
        return text
    return None
