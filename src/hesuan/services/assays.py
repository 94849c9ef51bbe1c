"""Assays (试剂盒): the versions stored, the current one, and an administrator's new version.

An assay's definition is stored as a JSON document (``assay_document`` / ``read_assay``): its
targets (name, dye, cut-off, grey-zone start, role), whether it has a no-template control, how
many viral targets a positive needs, how many re-runs a sample has and the kit's cycles. A new
version is validated by the domain (``hesuan.domain.assays.Assay``) and becomes the current
one: new plates use it; plates made before keep theirs. Until an administrator sets one, the
current assay is the domain's default (``DEFAULT_ASSAY``), stored the first time a plate needs
it (``current_in``).

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hesuan.domain.access import Action, Principal, authorize
from hesuan.domain.assays import DEFAULT_ASSAY, Assay, AssayRef, Target, TargetRole
from hesuan.domain.errors import InvalidInput, NotFound
from hesuan.domain.json import Json, JsonObject
from hesuan.services.context import Deps, write_retrying
from hesuan.services.lab_ports import AssayVersionRow
from hesuan.services.ports import UnitOfWork

__all__ = ["SYSTEM_ACTOR", "AssayService", "AssayVersion", "TargetInput", "assay_document",
           "read_assay"]

#: Who stored the default assay: nobody chose it; the platform stored it when first needed.
SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class TargetInput:
    """One target of a new assay version, as an administrator gives it."""

    name: str
    dye: str
    cutoff: float
    grey_from: float | None = None
    internal_control: bool = False


@dataclass(frozen=True, slots=True)
class AssayVersion:
    """An assay version as stored, with who set it and whether it is current."""

    assay: Assay
    current: bool
    created_by: str
    created_at: datetime


def assay_document(assay: Assay) -> dict[str, Json]:
    """The assay as the JSON document it is stored as."""
    return {
        "id": assay.id, "version": assay.version, "name": assay.name,
        "targets": [{"name": t.name, "dye": t.dye, "cutoff": t.cutoff,
                     "grey_from": t.grey_from, "role": t.role.value} for t in assay.targets],
        "no_template_control": assay.no_template_control,
        "positive_needs": assay.positive_needs, "reruns": assay.reruns, "cycles": assay.cycles,
    }


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, code="bad_assay", field="assay")


def _number(value: Json, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise _bad(f"{what} must be a number")
    return float(value)


def _whole(value: Json, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{what} must be a whole number")
    return value


def read_assay(doc: JsonObject) -> Assay:
    """The assay a stored JSON document describes (validated by the domain)."""
    targets = doc.get("targets")
    if not isinstance(targets, Sequence) or isinstance(targets, str):
        raise _bad("an assay document lists its targets")
    read: list[Target] = []
    for t in targets:
        if not isinstance(t, Mapping):
            raise _bad("each target is an object")
        grey, role = t.get("grey_from"), str(t.get("role", TargetRole.VIRAL.value))
        if role not in set(TargetRole):
            raise _bad(f"a target's role is one of {', '.join(TargetRole)}")
        read.append(Target(str(t.get("name")), str(t.get("dye")),
                           _number(t.get("cutoff"), "cutoff"),
                           None if grey is None else _number(grey, "grey_from"),
                           TargetRole(role)))
    needs = doc.get("positive_needs")
    return Assay(str(doc.get("id")), _whole(doc.get("version"), "version"),
                 str(doc.get("name")), tuple(read),
                 no_template_control=bool(doc.get("no_template_control", False)),
                 positive_needs=None if needs is None else _whole(needs, "positive_needs"),
                 reruns=_whole(doc.get("reruns"), "reruns"),
                 cycles=_whole(doc.get("cycles"), "cycles"))


def _version(row: AssayVersionRow) -> AssayVersion:
    return AssayVersion(read_assay(row.definition), row.current, row.created_by,
                        row.created_at)


class AssayService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    def current(self, actor: Principal) -> Assay:
        """The assay new plates use."""
        authorize(actor, Action.READ_ASSAYS)
        with self._d.uow(readonly=True) as uow:
            row = uow.assays.current()
        return DEFAULT_ASSAY if row is None else read_assay(row.definition)

    def versions(self, actor: Principal) -> list[AssayVersion]:
        """Every stored version, newest first (the default, once stored, among them)."""
        authorize(actor, Action.READ_ASSAYS)
        with self._d.uow(readonly=True) as uow:
            return [_version(r) for r in uow.assays.versions()]

    def version(self, uow: UnitOfWork, ref: AssayRef) -> Assay:
        """The stored version ``ref`` (a plate's), within the caller's unit of work."""
        row = uow.assays.version(ref)
        if row is None:
            raise NotFound(f"assay {ref} is not stored", code="unknown_assay", field="assay")
        return read_assay(row.definition)

    def current_in(self, uow: UnitOfWork) -> Assay:
        """The current assay, within the caller's (writing) unit of work: the default is
        stored here the first time one is needed."""
        row = uow.assays.current()
        if row is not None:
            return read_assay(row.definition)
        if uow.assays.version(DEFAULT_ASSAY.ref) is None:
            uow.assays.add(AssayVersionRow(
                DEFAULT_ASSAY.id, DEFAULT_ASSAY.version, DEFAULT_ASSAY.name,
                assay_document(DEFAULT_ASSAY), True, SYSTEM_ACTOR, self._d.clock.now()))
        return DEFAULT_ASSAY

    def set_version(self, actor: Principal, assay_id: str, name: str,
                    targets: Sequence[TargetInput], *, no_template_control: bool = False,
                    positive_needs: int | None = None, reruns: int | None = None,
                    cycles: int | None = None) -> Assay:
        """A new version of assay ``assay_id`` (its next version number; 1 for a new id),
        validated, stored and made current. Audited."""
        authorize(actor, Action.SET_ASSAY)
        now = self._d.clock.now()

        def store(uow: UnitOfWork) -> Assay:
            self.current_in(uow)  # the default is stored before anything replaces it
            stored = uow.assays.versions(assay_id)
            version = 1 + max((r.version for r in stored), default=0)
            assay = Assay(
                assay_id, version, name,
                tuple(Target(t.name, t.dye, t.cutoff, t.grey_from,
                             TargetRole.INTERNAL_CONTROL if t.internal_control
                             else TargetRole.VIRAL) for t in targets),
                no_template_control=no_template_control, positive_needs=positive_needs,
                reruns=DEFAULT_ASSAY.reruns if reruns is None else reruns,
                cycles=DEFAULT_ASSAY.cycles if cycles is None else cycles)
            uow.assays.add(AssayVersionRow(assay.id, assay.version, assay.name,
                                           assay_document(assay), True, actor.username, now))
            uow.audit_log.append(now, actor.username, "assay.set", f"assay:{assay.ref}",
                                 assay_document(assay))
            return assay

        # two versions set at once: the second retries and takes the next number
        return write_retrying(self._d, store)
