"""The city as a simulated round sees it: its open sampling sites (each with the labs of its
district), the labs, the people with the site serving their grid (``city_plan.site_catchments``)
and their groups; who is infected; and when each person comes to be sampled.

Imports: standard library, numpy, ``hesuan.adapters``, ``hesuan.services``, ``hesuan.domain``,
``hesuan.sim``.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict

import numpy as np

from hesuan.adapters.db import bulk
from hesuan.domain.access import Principal, Role
from hesuan.domain.errors import NotFound
from hesuan.domain.local_time import local_date, midnight_of
from hesuan.domain.people import SINGLE_TUBE_GROUPS
from hesuan.services.auth import SYSTEM
from hesuan.sim.city_plan import CATCHMENT_KINDS, site_catchments
from hesuan.sim.round_state import ROUTINE, LabState, RoundState

__all__ = ["CADENCE_H", "NoCity", "RoundCity"]

CADENCE_H = 72


class NoCity(NotFound):
    """The database has no generated city to simulate."""

    default_code = "no_city"


class RoundCity(RoundState):
    """Loads the city into the round and plans the people's visits."""

    def load(self) -> None:
        roster = bulk.read_roster(self.p.engine)
        self.ids = [r[0] for r in roster]
        n = len(self.ids)
        sites = [s for s in self.p.places.sites() if s.status == "open"]
        labs = self.p.places.labs(SYSTEM)
        if not labs or not self.ids:
            raise NoCity("the database holds no city (people and labs): run "
                         "`hesuan city generate` first")
        self.grids = sorted({r[1] for r in roster})
        catch = site_catchments(self.grids,
                                [(s.id, s.kind, s.region_code) for s in sites])
        routine = [s for s in sites if s.kind in CATCHMENT_KINDS]
        lab_of_district: dict[str, list[int]] = defaultdict(list)
        for i, lab in enumerate(labs):
            lab_of_district[lab.region_code[:6]].append(i)
        self.labs = []
        for lab in labs:
            cap = lab.daily_capacity
            name = f"simlab{len(self.labs):04d}"
            self.labs.append(LabState(lab.id, Principal(name, name, Role.LAB, lab.id),
                                      Principal(f"{name}r", f"{name}-reviewer", Role.LAB,
                                                lab.id),
                                      per_run=max(96, cap // 32)))
        self.lab_of_district = dict(lab_of_district)
        self.sites = []
        site_index = {s.id: self.add_site(s).idx for s in routine}
        if self.sites:
            # two lanes at the site whose lead signs in (the demo's site lead sees its queue
            # and shift board); without one, at the busiest (most windows, then first)
            leads = {scope for _, role, scope in bulk.accounts(self.p.engine)
                     if role == Role.SITE_LEAD.value}
            lanes = next((s for s in routine if s.id in leads), None) or max(
                routine, key=lambda s: s.windows)
            self.sites[site_index[lanes.id]].lanes = True
        self.site_of = np.full(n, -1, dtype=np.int32)
        self.key = np.zeros(n, dtype=bool)
        self.student = np.zeros(n, dtype=bool)
        household = np.empty(n, dtype=np.int64)
        community = np.empty(n, dtype=np.int64)
        hh_codes: dict[str | None, int] = {}
        comm_codes: dict[str, int] = {}
        key_groups = {g.value for g in SINGLE_TUBE_GROUPS}
        for i, (pid, grid, hh, groups) in enumerate(roster):
            sid = catch.get(grid)
            self.site_of[i] = -1 if sid is None else site_index[sid]
            if groups:
                gs = groups.split(",")
                self.key[i] = not key_groups.isdisjoint(gs)
                self.student[i] = "teacher_student" in gs
            household[i] = hh_codes.setdefault(hh if hh else pid, len(hh_codes))
            community[i] = comm_codes.setdefault(grid[:12], len(comm_codes))
        self.infected = self._infect(household, community)
        self.recall_state = np.zeros(n, dtype=np.int8)  # 0 none, 1 to re-test, 2 re-tested
        self.isolated = np.zeros(n, dtype=bool)  # confirmed positive: no more routine visits
        self.sampled = np.zeros(n, dtype=bool)

    def _infect(self, household: np.ndarray, community: np.ndarray) -> np.ndarray:
        """``prevalence`` × people infected, clustered by community and household."""
        n = household.shape[0]
        infected = np.zeros(n, dtype=bool)
        target = round(self.prevalence * n)
        if target <= 0:
            return infected
        members: dict[int, list[int]] = defaultdict(list)
        for i, h in enumerate(household.tolist()):
            members[h].append(i)
        by_comm: dict[int, list[int]] = defaultdict(list)
        for h, people in members.items():
            by_comm[int(community[people[0]])].append(h)
        count = 0
        rng = self.rng
        while count < target:
            comm = int(community[rng.randrange(n)])  # communities weighted by their size
            for h in rng.sample(by_comm[comm], min(len(by_comm[comm]), rng.randint(1, 3))):
                people = members[h]
                hit = [i for i in people if rng.random() < 0.5] or [rng.choice(people)]
                for i in hit:
                    if count < target and not infected[i]:
                        infected[i] = True
                        count += 1
        return infected

    def schedule_arrivals(self) -> int:
        """Each person's routine visits in the round, by their group's cadence (DESIGN.md
        defaults: key groups daily, returning students and teachers every 36 h, everyone else
        every 72 h); returns the people due in the simulated window."""
        n = len(self.ids)
        r = self.np_rng
        days = max(1, math.ceil(CADENCE_H / 24))
        visits = np.where(self.key, days, np.where(self.student, 2, 1))
        first = np.where(self.key, 0, r.integers(0, days, size=n) % (days - visits + 1))
        comes = self.will_come = r.random(n) < self.compliance
        local_midnight = midnight_of(local_date(self.start))
        offset = (local_midnight - self.start).total_seconds()
        is_due = np.zeros(n, dtype=bool)
        for j in range(days):
            mix = r.random(n)
            hour = np.where(mix < 0.3, r.normal(8.0, 1.0, n),
                            np.where(mix < 0.65, r.uniform(9.0, 17.0, n),
                                     r.normal(19.0, 1.2, n)))
            sec = (hour * 3600.0).tolist()
            fallback = r.random(n).tolist()
            day = (first + j).tolist()
            for i in np.flatnonzero(visits > j).tolist():
                s = int(self.site_of[i])
                if s < 0:
                    continue
                site = self.sites[s]
                t_day = sec[i]
                lo, hi = site.open_s, site.close_s - 600
                if not lo <= t_day <= hi:
                    t_day = lo + fallback[i] * (hi - lo)
                t = offset + day[i] * 86400.0 + t_day
                if t < 0.0:  # the round started mid-day: this person's day comes round again
                    t += days * 86400.0
                if t < self.end_s:
                    is_due[i] = True
                    if comes[i]:
                        site.queue.append((t, ROUTINE, i))
        for site in self.sites:
            heapq.heapify(site.queue)
        return int(is_due.sum())

