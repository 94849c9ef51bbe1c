"""What a scan at the sampling station means, by its shape (the same rules as ``station.js``):

- ``BX`` + 10 digits (a transport box): start packing that box; scanned again, seal it.
- 13 digits (a tube): while packing, pack the tube into the box; with a tube open, the same
  barcode again seals it; with no tube open, open it in the chosen mode (1/5/10/20).
- anything else (a sampling code): sample the person into the open tube.

A hand scanner types into the focused field and presses Enter, so the whole flow works from the
keyboard. Each scan becomes one station event (the same events as ``POST /scans/batch``), made
here for the form fallback without JavaScript and in the browser by ``station.js``.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from hesuan.domain.errors import InvalidInput, RuleViolation
from hesuan.services.sampling import EventKind, StationEvent

__all__ = ["StationState", "interpret"]

BOX = re.compile(r"^BX\d{10}$")
TUBE = re.compile(r"^\d{13}$")


@dataclass(frozen=True, slots=True)
class StationState:
    """What the station is doing: the open tube (if any) and the box being packed (if any)."""

    tube: str = ""
    box: str = ""
    mode: int = 10
    window: int | None = None


def interpret(scan: str, state: StationState, site_id: str, at: datetime,
              event_id: str | None = None) -> tuple[StationEvent | None, StationState]:
    """The event a scan makes (None when it only changes the station's state) and the state
    the station will be in if the event is accepted."""
    s = scan.strip()
    up = s.upper()
    eid = event_id or str(uuid.uuid4())

    def ev(kind: EventKind, **kw: object) -> StationEvent:
        return StationEvent(event_id=eid, kind=kind, site_id=site_id, at=at,
                            window=state.window, **kw)  # type: ignore[arg-type]

    if not s:
        raise InvalidInput("scan a tube, a box or a sampling code", code="missing_code",
                           field="scan")
    if BOX.match(up):
        if not state.box:
            return None, replace(state, box=up)
        if up == state.box:
            return ev(EventKind.SEAL_BOX, box_code=up), replace(state, box="")
        raise RuleViolation("finish the box being packed first (scan it again to seal it)",
                            code="box_open", field="scan")
    if TUBE.match(up):
        if state.box:
            return ev(EventKind.BOX_TUBE, barcode=up, box_code=state.box), state
        if state.tube and up == state.tube:
            return ev(EventKind.SEAL_TUBE, barcode=up), replace(state, tube="")
        if state.tube:
            raise RuleViolation("seal the open tube first (scan its barcode again)",
                                code="tube_open", field="scan")
        return ev(EventKind.OPEN_TUBE, barcode=up, mode=state.mode), replace(state, tube=up)
    if state.box:
        raise RuleViolation("leave packing first (Esc) to sample people", code="box_open",
                            field="scan")
    if not state.tube:
        raise RuleViolation("open a tube first: scan its barcode", code="no_open_tube",
                            field="scan")
    return ev(EventKind.SAMPLE, barcode=state.tube, code=s), state
