"""HTTP routes of testing (检): a lab's results, as JSON or as a CSV file (checked whole before
anything is written).

Imports: FastAPI, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from hesuan.domain.access import Action
from hesuan.domain.errors import InvalidInput
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.tables import read_csv_text
from hesuan.services.lab import RESULT_COLUMNS, ResultInput

__all__ = ["router"]

router = APIRouter(tags=["testing"])


@router.post("/labs/{lab_id}/results", openapi_extra=acts(Action.RECORD_RESULTS))
def results(me: Me, platform: PlatformDep, lab_id: str, body: s.ResultsIn) -> s.ResultsOut:
    out = platform.lab.record(me, lab_id, [ResultInput(r.barcode, r.result, r.ct,
                                                       r.correction_reason)
                                           for r in body.results])
    return s.ResultsOut(results=[s.ResultOutcomeOut.model_validate(asdict(o)) for o in out])


@router.post("/labs/{lab_id}/results.csv", openapi_extra=acts(Action.RECORD_RESULTS))
def results_csv(me: Me, platform: PlatformDep, lab_id: str,
                file: Annotated[UploadFile, File(description="CSV: barcode,result,...")],
                ) -> s.ResultsFileOut:
    data = file.file.read()
    try:  # one file-level error, not a replacement character in every row it spoils
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as CSV in UTF-8 (a GBK or GB18030 file: hesuan results import reads it)",
            code="bad_encoding", field="file") from None
    # read whole first: a malformed file is refused before anything is written
    problems, total = platform.lab.import_rows(me, lab_id, read_csv_text(text, RESULT_COLUMNS))
    return s.ResultsFileOut(rows=total, problems=[
        s.ResultOutcomeOut.model_validate(asdict(o)) for o in problems])
