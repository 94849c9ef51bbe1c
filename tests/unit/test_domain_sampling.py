"""Unit tests of the sampling rules (domain.sampling): barcodes, pool sizes, and admission of a
person into a tube — rule by rule, then as invariants over random scan sequences (Hypothesis
state machines driving ``admit_person`` the way a station does)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hesuan.domain.errors import Conflict, HesuanError, InvalidInput, NotFound, RuleViolation
from hesuan.domain.people import SINGLE_TUBE_GROUPS, Group
from hesuan.domain.sampling import (
    POOL_SIZES,
    PersonFacts,
    SiteKind,
    TubeState,
    TubeStatus,
    admit_person,
    check_box_code,
    check_opening,
    check_tube_barcode,
    make_box_code,
    make_tube_barcode,
)

SITE = "site-a"

# -- barcodes and box codes ---------------------------------------------------------------


@given(st.integers(0, 10**12 - 1))
def test_made_tube_barcodes_are_valid_13_digits(serial: int) -> None:
    code = make_tube_barcode(serial)
    assert len(code) == 13 and code.isdigit()
    assert check_tube_barcode(code) == code
    assert check_tube_barcode(f"  {code} ") == code


@given(st.integers(0, 10**12 - 1), st.integers(1, 9))
def test_a_wrong_check_digit_is_refused(serial: int, delta: int) -> None:
    code = make_tube_barcode(serial)
    bad = code[:-1] + str((int(code[-1]) + delta) % 10)
    with pytest.raises(InvalidInput) as e:
        check_tube_barcode(bad)
    assert (e.value.code, e.value.field) == ("bad_barcode", "barcode")
    assert "Luhn" in e.value.message


@given(st.integers(0, 10**12 - 1), st.integers(0, 11))
def test_a_swapped_pair_of_adjacent_digits_is_refused(serial: int, i: int) -> None:
    code = make_tube_barcode(serial)
    a, b = code[i], code[i + 1]
    if a == b or {a, b} == {"0", "9"}:  # Luhn's one blind spot (09 <-> 90), and a no-op
        return
    with pytest.raises(InvalidInput):
        check_tube_barcode(code[:i] + b + a + code[i + 2:])


@pytest.mark.parametrize("bad", ["", "123", "12345678901234", "ABCDEFGHIJKLM", "000000000001 8",
                                 "BX0000000018"])
def test_malformed_tube_barcodes_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_tube_barcode(bad)
    assert e.value.field == "barcode" and "barcode" in e.value.message


@given(st.integers(0, 10**9 - 1))
def test_made_box_codes_are_valid(serial: int) -> None:
    code = make_box_code(serial)
    assert code.startswith("BX") and len(code) == 12
    assert check_box_code(code) == code
    assert check_box_code(code.lower()) == code


@pytest.mark.parametrize("bad", ["", "BX123", "0000000000", "XX0000000018", "BX000000001X",
                                 make_tube_barcode(1)])
def test_malformed_box_codes_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as e:
        check_box_code(bad)
    assert (e.value.code, e.value.field) == ("bad_box_code", "box_code")


def test_a_box_code_with_a_wrong_check_digit_is_refused() -> None:
    code = make_box_code(42)
    with pytest.raises(InvalidInput):
        check_box_code(code[:-1] + str((int(code[-1]) + 1) % 10))


# -- opening a tube -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SiteKind))
@pytest.mark.parametrize("mode", [-1, 0, 2, 3, 4, 6, 15, 21, 25, 100])
def test_only_pool_sizes_1_5_10_20_exist(kind: SiteKind, mode: int) -> None:
    with pytest.raises(InvalidInput) as e:
        check_opening(mode, kind)
    assert (e.value.code, e.value.field) == ("bad_mode", "mode")


@pytest.mark.parametrize("mode", POOL_SIZES)
def test_pooling_is_allowed_except_at_first_landing_points(mode: int) -> None:
    assert POOL_SIZES == (1, 5, 10, 20)
    for kind in SiteKind:
        if kind is SiteKind.FIRST_LANDING and mode != 1:
            with pytest.raises(RuleViolation) as e:
                check_opening(mode, kind)
            assert (e.value.code, e.value.field) == ("site_requires_single_tube", "mode")
        else:
            priority = check_opening(mode, kind)
            assert priority is (kind is SiteKind.FIRST_LANDING)


# -- admitting a person, rule by rule -----------------------------------------------------


def tube(capacity: int = 10, count: int = 0, status: TubeStatus = TubeStatus.OPEN,
         tid: str = "t1", site: str = SITE, priority: bool = False) -> TubeState:
    return TubeState(id=tid, barcode=make_tube_barcode(1), site_id=site, capacity=capacity,
                     priority=priority, status=status, count=count)


def person(pid: str = "p1", groups: frozenset[Group] = frozenset(), open_tube: str | None = None,
           recall: bool = False) -> PersonFacts:
    return PersonFacts(id=pid, groups=groups, open_tube_id=open_tube, has_open_recall=recall)


def refused(t: TubeState | None, p: PersonFacts | None, site: str = SITE) -> HesuanError:
    with pytest.raises(HesuanError) as e:
        admit_person(t, p, site)
    return e.value


def test_an_ordinary_person_joins_a_pool() -> None:
    a = admit_person(tube(10, count=3), person(), SITE)
    assert not a.fills_tube and not a.priority


@pytest.mark.parametrize("capacity", POOL_SIZES)
def test_the_last_place_fills_the_tube(capacity: int) -> None:
    assert admit_person(tube(capacity, count=capacity - 1), person(), SITE).fills_tube
    if capacity > 1:
        assert not admit_person(tube(capacity, count=capacity - 2), person(), SITE).fills_tube


@pytest.mark.parametrize(("t", "p", "site", "cls", "code", "field"), [
    (None, person(), SITE, NotFound, "unknown_tube", "barcode"),
    (tube(), person(), "site-b", RuleViolation, "wrong_site", "barcode"),
    (tube(status=TubeStatus.SEALED, count=4), person(), SITE, RuleViolation, "tube_sealed",
     "barcode"),
    (tube(status=TubeStatus.BOXED, count=4), person(), SITE, RuleViolation, "tube_sealed",
     "barcode"),
    (tube(), None, SITE, InvalidInput, "unknown_person", "code"),
    (tube(count=1), person(open_tube="t1"), SITE, Conflict, "already_in_tube", "code"),
    (tube(), person(open_tube="t0"), SITE, Conflict, "person_in_open_tube", "code"),
    (tube(5, count=5), person(), SITE, RuleViolation, "tube_full", "barcode"),
    (tube(5, count=9), person(), SITE, RuleViolation, "tube_full", "barcode"),
    (tube(10), person(groups=frozenset({Group.MEDICAL})), SITE, RuleViolation,
     "single_tube_required", "code"),
    (tube(20), person(recall=True), SITE, RuleViolation, "recall_requires_single_tube", "code"),
])
def test_each_admission_rule_has_its_error(t: TubeState | None, p: PersonFacts | None, site: str,
                                           cls: type[HesuanError], code: str,
                                           field: str) -> None:
    e = refused(t, p, site)
    assert type(e) is cls
    assert (e.code, e.field) == (code, field)
    assert e.message.startswith(f"{field}:"), "the message names the field first"


@pytest.mark.parametrize("group", sorted(SINGLE_TUBE_GROUPS))
def test_key_groups_take_single_priority_tubes(group: Group) -> None:
    for capacity in (5, 10, 20):
        assert refused(tube(capacity), person(groups=frozenset({group}))).code == \
            "single_tube_required"
    a = admit_person(tube(1), person(groups=frozenset({group})), SITE)
    assert a.fills_tube and a.priority


@pytest.mark.parametrize("group", sorted(set(Group) - SINGLE_TUBE_GROUPS))
def test_other_groups_may_be_pooled(group: Group) -> None:
    a = admit_person(tube(20), person(groups=frozenset({group})), SITE)
    assert not a.priority


def test_places_held_by_registered_people_are_kept_for_them() -> None:
    """Four of five places held by people registered to the tube: one walk-up fits, the
    registered fill it, and the last of them fills the tube."""
    held = replace(tube(5, count=1), waiting=4)
    assert refused(held, person()).code == "tube_full"
    registered = replace(person(), registered_barcode=held.barcode)
    assert not admit_person(held, registered, SITE).fills_tube
    last = replace(tube(5, count=4), waiting=1)
    assert admit_person(last, registered, SITE).fills_tube
    assert not admit_person(replace(tube(5, count=3), waiting=1), person(), SITE).fills_tube


def test_a_recall_re_sample_is_a_single_priority_tube() -> None:
    a = admit_person(tube(1), person(recall=True), SITE)
    assert a.fills_tube and a.priority


def test_a_priority_tube_stays_priority() -> None:
    assert admit_person(tube(1, priority=True), person(), SITE).priority


# -- invariants over random scan sequences ------------------------------------------------

#: Mostly ordinary people, so pools fill; now and then a key group, a second group, a recall.
GROUP_SETS = st.one_of(st.just(frozenset[Group]()), st.just(frozenset[Group]()),
                       st.frozensets(st.sampled_from(list(Group)), max_size=2))
MOSTLY_NOT = st.sampled_from([False, False, False, False, True])


class Window(RuleBasedStateMachine):
    """A sampling window: tubes are opened, people are scanned into them, tubes are sealed.

    The machine asks ``admit_person`` for every scan, passing the facts as a station knows them,
    and applies an admission exactly as the sampling service does (count, membership, sealing
    a full tube, freeing its people). Every admission is checked against an independent
    statement of the rules, and after every step the pooling invariants must hold."""

    #: Whether a full tube seals itself (as the service does). Without it, only the
    #: ``tube_full`` rule of ``admit_person`` keeps tubes within capacity.
    auto_seal = True

    def __init__(self) -> None:
        super().__init__()
        self.tubes: list[TubeState] = []
        self.members: dict[str, list[str]] = {}  # tube id -> person ids, in scan order
        self.people: list[PersonFacts] = []
        self.open_tube_of: dict[str, str | None] = {}
        self.admitted = 0

    @initialize(specs=st.lists(st.tuples(GROUP_SETS, MOSTLY_NOT), min_size=2, max_size=25))
    def make_people(self, specs: list[tuple[frozenset[Group], bool]]) -> None:
        self.people = [PersonFacts(f"p{i}", groups, None, recall)
                       for i, (groups, recall) in enumerate(specs)]
        self.open_tube_of = {p.id: None for p in self.people}

    @rule(capacity=st.sampled_from(POOL_SIZES), other_site=MOSTLY_NOT)
    def open_tube(self, capacity: int, other_site: bool) -> None:
        t = TubeState(id=f"t{len(self.tubes)}", barcode=make_tube_barcode(len(self.tubes)),
                      site_id="site-b" if other_site else SITE, capacity=capacity,
                      priority=False, status=TubeStatus.OPEN, count=0)
        self.tubes.append(t)
        self.members[t.id] = []

    @precondition(lambda self: self.tubes)
    @rule(data=st.data())
    def scan(self, data: st.DataObject) -> None:
        # mostly the newest tube (as at a window), so that pools fill up
        t = data.draw(st.one_of(st.just(self.tubes[-1]), st.just(self.tubes[-1]),
                                st.sampled_from(self.tubes)))
        self.try_admit(t, data.draw(st.sampled_from(self.people)))

    @precondition(lambda self: self.tubes)
    @rule(order=st.randoms(use_true_random=False))
    def queue_at_the_newest_tube(self, order: random.Random) -> None:
        """The whole queue (in a random order) is scanned into the newest tube."""
        queue = list(self.people)
        order.shuffle(queue)
        for p in queue:
            self.try_admit(self.tubes[-1], p)

    def try_admit(self, t: TubeState, p: PersonFacts) -> None:
        facts = replace(p, open_tube_id=self.open_tube_of[p.id])
        expected = self.expected_refusal(t, facts)
        try:
            a = admit_person(t, facts, SITE)
        except HesuanError as exc:
            assert exc.code == expected, (exc.code, expected)
            event(f"refused: {exc.code}")
            return
        assert expected is None, f"admitted although {expected}"
        assert a.priority == (t.priority or bool(p.groups & SINGLE_TUBE_GROUPS)
                              or p.has_open_recall)
        # apply it as the service does
        t.count += 1
        t.priority = t.priority or a.priority
        self.members[t.id].append(p.id)
        self.open_tube_of[p.id] = t.id
        self.admitted += 1
        assert a.fills_tube == (t.count == t.capacity)
        event(f"admitted into a {t.capacity}-tube")
        if a.fills_tube:
            event(f"filled a {t.capacity}-tube")
        if a.fills_tube and self.auto_seal:
            self.seal_tube(t)

    @precondition(lambda self: any(t.status is TubeStatus.OPEN and t.count for t in self.tubes))
    @rule(data=st.data())
    def seal_by_hand(self, data: st.DataObject) -> None:
        t = data.draw(st.sampled_from([t for t in self.tubes
                                       if t.status is TubeStatus.OPEN and t.count]))
        self.seal_tube(t)

    def seal_tube(self, t: TubeState) -> None:
        t.status = TubeStatus.SEALED
        for pid in self.members[t.id]:
            if self.open_tube_of[pid] == t.id:
                self.open_tube_of[pid] = None

    def expected_refusal(self, t: TubeState, p: PersonFacts) -> str | None:
        """The rules, restated independently, in the order the domain checks them."""
        if t.site_id != SITE:
            return "wrong_site"
        if t.status is not TubeStatus.OPEN:
            return "tube_sealed"
        if p.id in self.members[t.id]:
            return "already_in_tube"
        if any(p.id in self.members[o.id] for o in self.tubes
               if o.status is TubeStatus.OPEN and o.id != t.id):
            return "person_in_open_tube"
        if t.count >= t.capacity:
            return "tube_full"
        if t.capacity > 1 and p.groups & SINGLE_TUBE_GROUPS:
            return "single_tube_required"
        if t.capacity > 1 and p.has_open_recall:
            return "recall_requires_single_tube"
        return None

    @invariant()
    def capacity_is_never_exceeded(self) -> None:
        for t in self.tubes:
            assert t.count == len(self.members[t.id]) <= t.capacity

    @invariant()
    def nobody_is_twice_in_one_tube(self) -> None:
        for ms in self.members.values():
            assert len(ms) == len(set(ms))

    @invariant()
    def nobody_is_in_two_open_tubes(self) -> None:
        seen: set[str] = set()
        for t in self.tubes:
            if t.status is TubeStatus.OPEN:
                assert seen.isdisjoint(self.members[t.id])
                seen.update(self.members[t.id])

    @invariant()
    def key_groups_and_recalls_are_only_in_single_tubes(self) -> None:
        by_id = {p.id: p for p in self.people}
        for t in self.tubes:
            if t.capacity > 1:
                for pid in self.members[t.id]:
                    assert not by_id[pid].groups & SINGLE_TUBE_GROUPS
                    assert not by_id[pid].has_open_recall

    @invariant()
    def a_full_tube_is_sealed(self) -> None:
        if self.auto_seal:
            for t in self.tubes:
                assert t.count < t.capacity or t.status is TubeStatus.SEALED


class CarelessWindow(Window):
    """A station that never seals: ``admit_person`` alone must keep tubes within capacity."""

    auto_seal = False


_machine_settings = settings(max_examples=40, stateful_step_count=50, deadline=None)
TestWindow = Window.TestCase
TestWindow.settings = _machine_settings
TestCarelessWindow = CarelessWindow.TestCase
TestCarelessWindow.settings = _machine_settings
