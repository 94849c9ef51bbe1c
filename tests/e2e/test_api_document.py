"""The OpenAPI document describes what the server answers, for the answers the fuzzing run
(test_schemathesis.py) reaches only by chance: a framework validation error, a body that is
not JSON and a broken multipart form in the platform's one error shape; a method the path does
not take answered 405 with every method it does take in ``Allow``; a results upload with no
rows for a lab that does not exist; a results file that is not UTF-8; the formats the server
enforces written into the document as patterns; and the document itself valid OpenAPI."""

from __future__ import annotations

import re
from typing import Any

import openapi_spec_validator
import pytest

from hesuan.domain.sampling import make_box_code, make_tube_barcode
from tests.helpers import Api


def _error(r: Any, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"], error
    return error


def test_document_is_valid_openapi(api: Api) -> None:
    # ``validate`` from 0.7 on; ``validate_spec`` in the 0.5 line (jsonschema < 4.18)
    check = getattr(openapi_spec_validator, "validate", None) or \
        openapi_spec_validator.validate_spec
    check(api.client.get("/openapi.json").json())


def test_schema_validation_error_is_the_error_shape(api: Api) -> None:
    r = api.client.post("/people", json={"name": "张三"}, headers=api.h("officer"))
    error = _error(r, 422, "missing", "id_number")
    assert error["message"].startswith("id_number: ")
    assert [e["loc"] for e in error["errors"]] == [["body", "id_number"], ["body", "grid_code"]]


def test_body_that_is_not_json_is_the_error_shape(api: Api) -> None:
    r = api.client.post("/people", content=b'{"name": ', headers=api.h("officer")
                        | {"Content-Type": "application/json"})
    _error(r, 422, "json_invalid", "body")


def test_broken_multipart_form_is_the_error_shape(api: Api) -> None:
    lab = api.city.labs["lab1"]
    for content_type, body in (("multipart/form-data", b"--x\r\n"),  # no boundary named
                               ("multipart/form-data; boundary=x", b"--x\r\nbroken\r\n\r\n")):
        r = api.client.post(f"/labs/{lab}/results.csv", content=body,
                            headers=api.h("lab") | {"Content-Type": content_type})
        _error(r, 422, "bad_body", "body")


@pytest.mark.parametrize("method", ["PUT", "OPTIONS", "DELETE"])
def test_method_not_taken_names_every_method_the_path_takes(api: Api, method: str) -> None:
    r = api.client.request(method, "/policies", headers=api.h("admin"))
    _error(r, 405, "method_not_allowed", None)
    assert set(re.split(r",\s*", r.headers["allow"])) >= {"GET", "POST"}, r.headers


def test_results_file_with_no_rows_for_an_unknown_lab_is_not_found(api: Api) -> None:
    r = api.client.post("/labs/00000000000000000000000000000000/results.csv",
                        files={"file": ("r.csv", b"barcode,result\n", "text/csv")},
                        headers=api.h("admin"))
    _error(r, 404, "unknown_lab", "lab_id")


def test_lab_in_a_region_that_does_not_exist_is_refused(api: Api) -> None:
    r = api.client.post("/labs", json={"name": "某实验室", "region_code": "894122438185",
                                       "daily_capacity": 1000}, headers=api.h("admin"))
    _error(r, 404, "unknown_region", "region_code")


def test_results_file_not_in_utf8_is_one_file_level_error(api: Api) -> None:
    lab = api.city.labs["lab1"]
    rows = "".join(f"{make_tube_barcode(990_000 + i)},阴性\n" for i in range(3))
    content = ("条码,结果\n" + rows).encode("gbk")
    r = api.client.post(f"/labs/{lab}/results.csv",
                        files={"file": ("r.csv", content, "text/csv")}, headers=api.h("lab"))
    error = _error(r, 422, "bad_encoding", "file")
    assert "UTF-8" in error["message"]


def test_results_file_with_another_tables_header_is_one_file_level_error(api: Api) -> None:
    """A misspelt column ('ct_n') was dropped without a word, its Ct values with it; blank
    lines were not counted, so a problem's row was the one above it."""
    lab = api.city.labs["lab1"]
    r = api.client.post(f"/labs/{lab}/results.csv", headers=api.h("lab"), files={
        "file": ("r.csv", b"barcode,result,ct_n\n", "text/csv")})
    error = _error(r, 422, "bad_header", "file")
    assert "ct_n" in error["message"] and "ct_N" in error["message"]
    r = api.client.post(f"/labs/{lab}/results.csv", headers=api.h("lab"), files={
        "file": ("r.csv", b"barcode,result\n\n\nNOT-A-TUBE,negative\n", "text/csv")})
    assert r.status_code == 200, r.text
    assert [(p["row"], p["status"]) for p in r.json()["problems"]] == [(4, "rejected")]


def _param(doc: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    for p in doc["paths"][path][method]["parameters"]:
        if p["name"] == name:
            schema: dict[str, Any] = p["schema"]
            return schema
    raise AssertionError(f"{method} {path} has no parameter {name}")


def _prop(doc: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][model]["properties"][name]
    return schema


def _pattern(schema: dict[str, Any]) -> str:
    found = [s["pattern"] for s in [schema, *schema.get("anyOf", [])] if "pattern" in s]
    assert found, schema
    return str(found[0])


def test_enforced_formats_are_patterns_in_the_document(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    box = _pattern(_param(doc, "/boxes/{box_code}/handover", "post", "box_code"))
    assert re.fullmatch(box, make_box_code(7)) and not re.fullmatch(box, "BX12345")
    barcode = _pattern(_prop(doc, "ResultIn", "barcode"))
    assert re.fullmatch(barcode, make_tube_barcode(7)) and not re.fullmatch(barcode, "12345")
    id_number = _pattern(_prop(doc, "PersonIn", "id_number"))
    assert re.fullmatch(id_number, "11010519491231002X")
    assert not re.fullmatch(id_number, "1101051949123100\x00X")
    for model, name in (("RegionIn", "code"), ("SiteIn", "region_code"),
                        ("PersonIn", "grid_code")):
        region = _pattern(_prop(doc, model, name))
        assert re.fullmatch(region, "140105001001001"), (model, name)
        assert not re.fullmatch(region, "14010500100100"), (model, name)  # 14 digits
    name = _pattern(_prop(doc, "PersonIn", "name"))  # any text field of a request: no NUL
    assert re.fullmatch(name, "张三") and not re.fullmatch(name, "张\x00三")
