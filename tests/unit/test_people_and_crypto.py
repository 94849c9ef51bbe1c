"""Identity documents, masking, the sampling-code MAC, encryption at rest."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hesuan.adapters.crypto import HmacCodeSigner, KeyRing
from hesuan.domain.errors import InvalidInput
from hesuan.domain.people import (
    IdKind,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_id_number,
    normalise_phone,
    parse_groups,
)
from hesuan.domain.sampling import check_box_code, check_tube_barcode, make_tube_barcode
from hesuan.sim.example import make_resident_id

TODAY = date(2022, 8, 29)


def test_resident_id_numbers_are_checked_for_checksum_date_and_region() -> None:
    good = make_resident_id("140105", date(2001, 3, 4), 17)
    assert normalise_id_number(IdKind.RESIDENT, good.lower(), today=TODAY) == good
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    for bad in (bad_check, good[:17], "140105200113041234", "999999200103040017"):
        with pytest.raises(InvalidInput) as exc:
            normalise_id_number(IdKind.RESIDENT, bad, today=TODAY)
        assert exc.value.field == "id_number" and exc.value.code == "bad_id_number"


def test_ids_use_the_district_code_in_force_at_birth() -> None:
    for year in (1960, 1990, 2010):
        normalise_id_number(IdKind.RESIDENT, make_resident_id("140110", date(year, 1, 1), 1),
                            today=TODAY)


def test_other_documents_have_their_own_checks() -> None:
    assert normalise_id_number(IdKind.PASSPORT, "e12345678", today=TODAY) == "E12345678"
    assert normalise_id_number(IdKind.HK_MACAU, "H12345678", today=TODAY) == "H12345678"
    with pytest.raises(InvalidInput):
        normalise_id_number(IdKind.HK_MACAU, "X12345678", today=TODAY)


def test_masking() -> None:
    assert mask_name("张小明") == "张*明"
    assert mask_name("李四") == "李*"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_id_number("14010520010304017X") == "1401**********017X"
    # a passport or a permit of 8-9 characters showed all but one
    assert mask_id_number("H12345678") == "H******78"
    assert mask_id_number("EA1234567") == "E******67"
    # a one-letter part of a Latin name was shown whole
    assert mask_name("A B Smith") == "A * S****"
    assert mask_phone("13812345678") == "138****5678"


def test_phone_and_groups_validation() -> None:
    assert normalise_phone("+86 138-1234-5678") == "13812345678"
    with pytest.raises(InvalidInput):
        normalise_phone("12345")
    with pytest.raises(InvalidInput) as exc:
        parse_groups(["medical", "astronaut"])
    assert exc.value.field == "groups"


def test_barcodes_carry_a_luhn_check_digit() -> None:
    good = make_tube_barcode(12345)
    assert check_tube_barcode(good) == good
    with pytest.raises(InvalidInput) as exc:
        check_tube_barcode(good[:-1] + str((int(good[-1]) + 1) % 10))
    assert exc.value.field == "barcode"
    with pytest.raises(InvalidInput):
        check_box_code("BX123")


@given(st.binary(min_size=16, max_size=16))
def test_sampling_code_round_trip_and_no_forgery(raw: bytes) -> None:
    signer = HmacCodeSigner(b"k" * 32)
    pid = raw.hex()
    token = signer.sign(pid)
    assert signer.verify(token) == pid
    assert pid not in token  # opaque
    assert HmacCodeSigner(b"x" * 32).verify(token) is None
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert signer.verify(flipped) is None


def test_personal_data_is_encrypted_and_hashed_with_separate_keys() -> None:
    ring = KeyRing(b"m" * 32)
    blob = ring.encrypt("14010520010304017X")
    assert b"140105" not in blob and ring.decrypt(blob) == "14010520010304017X"
    assert ring.encrypt("same") != ring.encrypt("same")  # random nonce
    assert ring.lookup_hash("a") == ring.lookup_hash("a") != KeyRing(b"n" * 32).lookup_hash("a")

