"""People (居民): registration, bulk import, reading with masking, and sampling codes (采样码).

The ID number and phone are encrypted at rest and looked up by keyed hash; reads of personal data
are audited; the API shows masked values unless the caller's role may unmask.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, TypeVar

from hesuan.domain.access import (
    Action,
    Principal,
    Role,
    Target,
    allows,
    authorize,
    region_prefix,
)
from hesuan.domain.errors import (
    Conflict,
    HesuanError,
    InvalidFields,
    InvalidInput,
    NotFound,
)
from hesuan.domain.local_time import local_date
from hesuan.domain.people import (
    IdKind,
    Language,
    mask_id_number,
    mask_name,
    mask_phone,
    normalise_id_number,
    normalise_phone,
    parse_groups,
    split_groups,
)
from hesuan.domain.programme import check_open
from hesuan.domain.spreadsheets import ROW_NUMBER, Columns
from hesuan.services.context import Deps
from hesuan.services.newcomers import settle_newcomers
from hesuan.services.people_ports import (
    NewPerson,
    PersonCorrectionRow,
    PersonRecallRow,
    PersonSampleRow,
)
from hesuan.services.targets import no_such_person, person_target

__all__ = [
    "PEOPLE_COLUMNS",
    "ROW_PROBLEMS",
    "ImportReport",
    "PeopleService",
    "PersonHistory",
    "PersonInput",
    "PersonView",
    "RowError",
]

#: The key under which a table reader puts what it found wrong with a row's shape (a
#: wrong field count, a quote that swallowed lines): a list of ``InvalidInput``, reported
#: with the row's other errors, and the row is not stored.
ROW_PROBLEMS: Final = "#problems"

#: A people file's columns (docs/API.md "People files").
PEOPLE_COLUMNS: Final = Columns(
    required=("id_number", "name", "grid_code"),
    optional=("id_kind", "phone", "groups", "language", "household_id", "address"))

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class PersonInput:
    id_number: str
    name: str
    grid_code: str
    id_kind: IdKind = IdKind.RESIDENT
    phone: str | None = None
    groups: tuple[str, ...] = ()
    language: str = "zh"
    household_id: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class PersonView:
    id: str
    id_kind: str
    id_number: str  # masked unless the caller may unmask
    name: str  # masked unless the caller may unmask or is the person
    phone: str | None
    grid_code: str
    groups: list[str]
    language: str
    address: str | None
    test_state: str
    last_sampled_at: datetime | None
    last_result: str | None
    last_result_at: datetime | None
    open_recall_id: str | None
    masked: bool


@dataclass(frozen=True, slots=True)
class PersonHistory:
    """A person's samples with their results, and their recalls, newest first; the
    corrections and cancellations of their tubes' results (the results they replaced)."""

    samples: list[PersonSampleRow]
    recalls: list[PersonRecallRow]
    corrections: list[PersonCorrectionRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str | None
    code: str
    message: str


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    inserted: int = 0
    already_present: int = 0
    errors: list[RowError] = field(default_factory=list)


class PeopleService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    # -- writing ---------------------------------------------------------------------------

    def _prepare(self, p: PersonInput, known_grids: set[str], today: date,
                 found: Sequence[InvalidInput] = ()) -> NewPerson:
        """The row to store, or InvalidInput for the one rule broken, or InvalidFields with every
        field's error (``found``: what the caller found wrong already). ``today`` is the local
        date: a birth date after it is refused."""
        errors = list(found)

        def check(key: str, value: str, rule: Callable[[], _T]) -> _T | None:
            if not value.strip():
                errors.append(InvalidInput(f"{key} is required", code="missing_field",
                                           field=key))
                return None
            try:
                return rule()
            except InvalidInput as exc:
                errors.append(exc)
                return None

        id_number = None
        if not any(e.field == "id_kind" for e in errors):  # no rule to check the number by
            id_number = check("id_number", p.id_number,
                              lambda: normalise_id_number(p.id_kind, p.id_number, today=today))
        name = check("name", p.name, lambda: _name(p.name))
        phone = check("phone", p.phone, lambda: normalise_phone(p.phone or "")) if p.phone \
            else None
        groups = _collect(errors, lambda: parse_groups(p.groups)) or frozenset()
        check("grid_code", p.grid_code, lambda: _grid(p.grid_code, known_grids))
        language = _collect(errors, lambda: _language(p.language))
        if errors:
            raise errors[0] if len(errors) == 1 else InvalidFields(errors)
        assert id_number is not None and name is not None and language is not None
        v = self._d.vault
        birth_year = int(id_number[6:10]) if p.id_kind is IdKind.RESIDENT else None
        return NewPerson(
            id=self._d.new_id(), id_kind=p.id_kind.value,
            id_hash=v.lookup_hash(f"{p.id_kind.value}:{id_number}"), id_enc=v.encrypt(id_number),
            id_last4=id_number[-4:], name_enc=v.encrypt(name), name_masked=mask_name(name),
            phone_enc=v.encrypt(phone) if phone else None,
            phone_hash=v.lookup_hash(f"phone:{phone}") if phone else None,
            grid_code=p.grid_code, household_id=p.household_id, address=p.address,
            groups=",".join(sorted(g.value for g in groups)), birth_year=birth_year,
            language=language,
        )

    def register(self, actor: Principal, p: PersonInput) -> str:
        authorize(actor, Action.REGISTER_PERSON, Target(region=p.grid_code), field="grid_code")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            check_open(uow.programme.closed())
            grid = uow.places.region(p.grid_code)
            row = self._prepare(p, {p.grid_code} if grid and grid.level == "grid" else set(),
                                local_date(now))
            existing = uow.people.person_id_by_hash(row.id_hash)
            if existing is not None:
                known = uow.people.person(existing)
                if known is not None and allows(actor, Action.READ_PERSON, person_target(known)):
                    return existing  # a retry: the same person again
                # known outside the registrar's area: refused, naming no one (the attempt is
                # audited by area: the ID number's holder is not the registrar's to read)
                uow.audit_log.append(now, actor.username, "person.create_refused",
                                     f"region:{p.grid_code}", {"why": "registered_elsewhere"})
                uow.commit()
                raise Conflict("id_number: this person is registered in another area; an "
                               "officer of that area can move them here",
                               code="registered_elsewhere", field="id_number")
            uow.people.insert_people([row], now)
            settle_newcomers(uow, [row], now)
            uow.audit_log.append(now, actor.username, "person.create", f"person:{row.id}", {})
            uow.commit()
        return row.id

    def import_rows(self, actor: Principal, rows: Iterable[Mapping[str, Any]],
                    known_grids: set[str], chunk: int = 5000,
                    progress: Callable[[int], None] | None = None) -> ImportReport:
        """Import people streaming, ``chunk`` rows a transaction. Bad rows are reported, the rest
        stored; rows whose ID number is already known change nothing (re-import is a no-op)."""
        authorize(actor, Action.IMPORT_PEOPLE, Target(region=region_prefix(actor)))
        # a row whose grid is outside the importer's region is refused like an unknown grid
        known_grids = {g for g in known_grids
                       if allows(actor, Action.IMPORT_PEOPLE, Target(region=g))}
        report = ImportReport()
        today = local_date(self._d.clock.now())
        batch: list[NewPerson] = []
        # each ID number's first row in the file and a digest of what it says of the person,
        # kept small (a million-row file is streamed): 8 bytes of each hash
        first_row: dict[bytes, tuple[int, bytes]] = {}
        for counted, raw in enumerate(rows, start=2):  # row 1 is the header
            n = int(raw.get(ROW_NUMBER, counted))  # as the sheet shows it, when the reader knows
            report.rows += 1
            try:
                person, found = _person_input(raw)
                row = self._prepare(person, known_grids, today, found)
                said = hashlib.blake2b(repr((
                    person.name.strip(), row.phone_hash, row.grid_code, row.household_id,
                    row.address, row.groups, row.language)).encode(), digest_size=8).digest()
                first = first_row.setdefault(row.id_hash[:8], (n, said))
                if first[1] != said:
                    # the same person said otherwise: which row is right is the office's call
                    raise InvalidInput(f"id_number: the same person as row {first[0]}, but not "
                                       "the same name, phone, grid or address: one row a "
                                       "person", code="duplicate_in_file", field="id_number")
                batch.append(row)
            except InvalidFields as exc:
                report.errors.extend(RowError(n, e.field, e.code, e.message) for e in exc.errors)
            except HesuanError as exc:
                report.errors.append(RowError(n, exc.field, exc.code, exc.message))
            if len(batch) >= chunk:
                self._flush(actor, batch, report)
                if progress is not None:
                    progress(report.rows)
                batch = []
        if batch:
            self._flush(actor, batch, report)
        if progress is not None:
            progress(report.rows)
        return report

    def _flush(self, actor: Principal, batch: list[NewPerson], report: ImportReport) -> None:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            check_open(uow.programme.closed())
            inserted = uow.people.insert_people(batch, now)
            settle_newcomers(uow, batch, now)  # a row already known is no one
            uow.audit_log.append(now, actor.username, "person.import", "people",
                      {"rows": len(batch), "inserted": inserted})
            uow.commit()
        report.inserted += inserted
        report.already_present += len(batch) - inserted

    # -- reading ---------------------------------------------------------------------------

    def get(self, actor: Principal, person_id: str, unmask: bool = False) -> PersonView:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise no_such_person()
            authorize(actor, Action.READ_PERSON, person_target(row), hidden=no_such_person())
            if unmask:
                authorize(actor, Action.UNMASK_PERSON, person_target(row), field="unmask")
            uow.audit_log.append(now, actor.username, "person.read", f"person:{person_id}",
                      {"unmasked": unmask})
            uow.commit()
        v = self._d.vault
        show = unmask or actor.role is Role.RESIDENT
        id_number = v.decrypt(row.id_enc)
        phone = v.decrypt(row.phone_enc) if row.phone_enc else None
        return PersonView(
            id=row.id, id_kind=row.id_kind,
            id_number=id_number if show else mask_id_number(id_number),
            name=v.decrypt(row.name_enc) if show else row.name_masked,
            phone=(phone if show else mask_phone(phone)) if phone else None,
            grid_code=row.grid_code, groups=[g for g in row.groups.split(",") if g],
            language=row.language, address=row.address, test_state=row.test_state,
            last_sampled_at=row.last_sampled_at, last_result=row.last_result,
            last_result_at=row.last_result_at, open_recall_id=row.open_recall_id,
            masked=not show,
        )

    def history(self, actor: Principal, person_id: str) -> PersonHistory:
        """A person's samples with their results, and their recalls."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise no_such_person()
            authorize(actor, Action.READ_PERSON, person_target(row), hidden=no_such_person())
            samples = uow.people.person_samples(person_id)
            recalls = uow.people.person_recalls(person_id)
            corrections = uow.people.person_corrections(person_id)
            uow.audit_log.append(now, actor.username, "person.history", f"person:{person_id}", {})
            uow.commit()
        return PersonHistory(samples, recalls, corrections)

    def find_by_id_number(self, actor: Principal, kind: IdKind, number: str) -> str:
        authorize(actor, Action.FIND_PERSON, Target(region=region_prefix(actor)),
                  field="id_number")
        # a look-up finds whoever is registered: no birth date is "in the future" for it
        canonical = normalise_id_number(kind, number, today=date.max)
        with self._d.uow() as uow:
            pid = uow.people.person_id_by_hash(
                self._d.vault.lookup_hash(f"{kind.value}:{canonical}"))
            row = None if pid is None else uow.people.person(pid)
            if row is None:
                raise NotFound("no person with this ID number", code="unknown_person",
                               field="id_number")
            authorize(actor, Action.FIND_PERSON, person_target(row),
                      hidden=NotFound("no person with this ID number", code="unknown_person",
                                      field="id_number"))
            uow.audit_log.append(self._d.clock.now(), actor.username, "person.lookup",
                                 f"person:{row.id}",
                      {})
            uow.commit()
        return row.id

    # -- sampling code ---------------------------------------------------------------------

    def sampling_code(self, actor: Principal, person_id: str) -> str:
        """The opaque token inside a person's sampling code QR (person id + keyed MAC)."""
        with self._d.uow() as uow:
            row = uow.people.person(person_id)
            if row is None:
                raise no_such_person()
            authorize(actor, Action.READ_SAMPLING_CODE, person_target(row),
                      hidden=no_such_person())
            uow.audit_log.append(self._d.clock.now(), actor.username, "person.sampling_code",
                      f"person:{person_id}", {})
            uow.commit()
        return self._d.codes.sign(person_id)

    def sampling_code_image(self, actor: Principal, person_id: str, fmt: str) -> bytes:
        if fmt not in ("svg", "png"):
            raise InvalidInput("format must be svg or png", code="bad_format", field="format")
        return self._d.qr.render(self.sampling_code(actor, person_id), fmt, 8)

    def resolve_code(self, token: str) -> str:
        person_id = self._d.codes.verify(token)
        if person_id is None:
            raise InvalidInput("code: the sampling code is forged, altered or unreadable",
                               code="forged_code", field="code")
        return person_id


def _collect(errors: list[InvalidInput], rule: Callable[[], _T]) -> _T | None:
    try:
        return rule()
    except InvalidInput as exc:
        errors.append(exc)
        return None


def _name(name: str) -> str:
    name = name.strip()
    if len(name) > 40:
        raise InvalidInput("name must be 1-40 characters", code="bad_name", field="name")
    return name


def _grid(grid_code: str, known_grids: set[str]) -> str:
    if grid_code not in known_grids:
        raise InvalidInput("grid_code is not a known grid (网格) of the importer's region",
                           code="unknown_grid", field="grid_code")
    return grid_code


def _language(language: str) -> str:
    try:
        return Language(language or "zh").value
    except ValueError:
        raise InvalidInput("language must be zh or en", code="bad_language",
                           field="language") from None


def _cell(raw: Mapping[str, Any], key: str) -> str:
    v = raw.get(key)
    if isinstance(v, float) and v.is_integer():  # a number typed into Excel: 13812345678.0
        v = int(v)
    return "" if v is None else str(v).strip()


def _person_input(raw: Mapping[str, Any]) -> tuple[PersonInput, list[InvalidInput]]:
    """The row as a PersonInput, with what is wrong already: the reader's problems with the
    row's shape (:data:`ROW_PROBLEMS`) and an unknown id_kind."""
    found: list[InvalidInput] = list(raw.get(ROW_PROBLEMS) or ())
    kind = IdKind.RESIDENT
    try:
        kind = IdKind(_cell(raw, "id_kind") or "resident")
    except ValueError:
        found.append(InvalidInput("id_kind must be resident, passport or hk_macau",
                                  code="bad_id_kind", field="id_kind"))
    person = PersonInput(
        id_number=_cell(raw, "id_number"), name=_cell(raw, "name"),
        grid_code=_cell(raw, "grid_code"), id_kind=kind, phone=_cell(raw, "phone") or None,
        groups=tuple(split_groups(_cell(raw, "groups"))),
        language=_cell(raw, "language") or "zh",
        household_id=_cell(raw, "household_id") or None, address=_cell(raw, "address") or None,
    )
    return person, found
