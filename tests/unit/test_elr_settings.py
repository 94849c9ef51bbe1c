"""The settings of electronic lab reports out: off by default; when on, the route is required,
MLLP needs its host and port, and a claim outlives the wait for an ACK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hesuan.config import Settings

ROUTE: dict[str, Any] = {
    "elr_enabled": True, "elr_sending_application_oid": "2.16.156.10011.99.1",
    "elr_sending_facility": "太原市核酸检测平台", "elr_sending_facility_oid": "2.16.156.10011.99.2",
    "elr_receiving_application": "SXCDC-ELR", "elr_receiving_application_oid": "2.16.156.1.3",
    "elr_receiving_facility": "山西省疾控中心", "elr_receiving_facility_oid": "2.16.156.1.4"}


def test_off_by_default() -> None:
    s = Settings()
    assert not s.elr_enabled
    assert (s.elr_results, s.elr_formats, s.elr_delivery, s.elr_disclosure) == (
        "positive", "both", "folder", "pseudonymous")


def test_enabled_needs_the_route() -> None:
    with pytest.raises(ValidationError, match="HESUAN_ELR_RECEIVING_FACILITY_OID"):
        Settings(**{**ROUTE, "elr_receiving_facility_oid": None})
    assert Settings(**ROUTE).elr_enabled


def test_mllp_needs_host_port_and_a_longer_claim() -> None:
    with pytest.raises(ValidationError, match="HESUAN_ELR_MLLP_HOST"):
        Settings(**ROUTE, elr_delivery="mllp", elr_formats="hl7")
    with pytest.raises(ValidationError, match="HESUAN_ELR_FORMATS=hl7"):
        Settings(**ROUTE, elr_delivery="mllp", elr_mllp_host="127.0.0.1", elr_mllp_port=2575)
    with pytest.raises(ValidationError, match="HESUAN_ELR_CLAIM_TIMEOUT_S"):
        Settings(**ROUTE, elr_delivery="mllp", elr_mllp_host="127.0.0.1", elr_mllp_port=2575,
                 elr_formats="hl7", elr_mllp_timeout=30, elr_claim_timeout_s=20)
    assert Settings(**ROUTE, elr_delivery="mllp", elr_mllp_host="127.0.0.1",
                    elr_mllp_port=2575, elr_formats="hl7").elr_mllp_port == 2575


def test_mllp_goes_inside_tls_unless_turned_off(tmp_path: Path) -> None:
    """The reports name people: TLS by default; the city's certificate needs its key, and
    each file must be there at start."""
    mllp = {**ROUTE, "elr_delivery": "mllp", "elr_mllp_host": "elr.example",
            "elr_mllp_port": 2575, "elr_formats": "hl7"}
    assert Settings(**mllp).elr_mllp_tls and not Settings(**mllp, elr_mllp_tls=False).elr_mllp_tls
    crt, key = tmp_path / "city.crt", tmp_path / "city.key"
    crt.write_text("-")
    key.write_text("-")
    with pytest.raises(ValidationError, match="HESUAN_ELR_MLLP_TLS_KEY"):
        Settings(**mllp, elr_mllp_tls_cert=crt)
    with pytest.raises(ValidationError, match="elr_mllp_tls_ca"):
        Settings(**mllp, elr_mllp_tls_ca=tmp_path / "missing.crt")
    assert Settings(**mllp, elr_mllp_tls_cert=crt, elr_mllp_tls_key=key).elr_mllp_tls_key == key


def test_unknown_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(elr_formats="pdf")
    with pytest.raises(ValidationError):
        Settings(elr_results="negatives")
