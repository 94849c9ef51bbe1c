"""Travellers landing in a simulated round (落地检, 第一落点单采单检).

Through the whole round, day and night, people of the city come back from elsewhere by train or
plane, about 0.4 % of the city a day (at most :data:`MOST_AN_HOUR` an hour), each arriving at
a moment of its own (a Poisson stream). The first-landing site where they land (the railway
station's or the airport's, ``SiteKind.FIRST_LANDING``) registers the arrival with where they
come from and that place's risk (``StatusService.register_arrival``, as its staff do at the
checkpoint): a medium-risk origin makes the status yellow, a high-risk one pop-up, until a
negative test after arrival. A few minutes later the site swabs them into a tube of their own,
which goes to the lab as a priority tube through the same boxes and couriers as every site's
(``round_stations``); its result clears the status. Each origin risk lands at least once in a
round long enough (the demo shows each): past a quarter of the round, a landing whose drawn
risk has been seen takes the strictest one not yet seen. A test on landing is not a routine sample:
the prevalence estimate from the routine pools leaves it out.

Who lands, where, from where and when come from a random generator of their own; the tubes
they fill change what the labs draw after them, so a seeded round with landings differs from
one without from the first landing on. A city without a first-landing site has no landings.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``, ``hesuan.sim``.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter

from hesuan.domain.arrivals import ARRIVAL_RISKS
from hesuan.domain.sampling import SiteKind
from hesuan.sim.round_labs import SEEDED_AT_LEAST_ONCE
from hesuan.sim.round_lis import LIS_RESULTS
from hesuan.sim.round_state import LANDING, RoundState

__all__ = ["LAND", "FirstLanding", "Landings"]

#: The action of a traveller landing (after the round's own kinds and the LIS's).
LAND = LIS_RESULTS + 1
#: People landing a day, as a share of the city's people; and at most this many an hour.
DAILY_SHARE = 0.004
MOST_AN_HOUR = 120
#: Where travellers come from (province, city or district codes), and how the origins' risks
#: are shared among them.
ORIGINS = ("110105", "310115", "440305", "4401", "3301", "61", "510107")
RISK_SHARES = (0.7, 0.25, 0.05)
#: From the platform to the swab: seconds, at least and at most.
TO_THE_SWAB_S = (120.0, 600.0)


class Landings:
    """The travellers who landed in the round: how many, by origin risk."""

    def __init__(self) -> None:
        self.by_risk: Counter[str] = Counter()

    def as_dict(self) -> dict[str, object]:
        # each traveller lands once, from an origin of one risk
        return {"travellers": self.by_risk.total(),
                "by_risk": {r: self.by_risk[r] for r in ARRIVAL_RISKS if self.by_risk[r]}}


class FirstLanding(RoundState):
    """The first-landing sites and the travellers who land there."""

    landings: Landings
    _land_rng: random.Random
    _landing_sites: list[int]

    def arrivals_open(self, seed: int) -> None:
        """Open the city's first-landing sites in the round and plan the landings (none
        without such a site). Called after the city is loaded, before the round runs."""
        self.landings = Landings()
        self._land_rng = random.Random(f"arrivals:{seed}")
        self._landing_sites = [
            self.add_site(s, single_only=True).idx for s in self.p.places.sites()
            if s.status == "open" and SiteKind(s.kind).is_arrival_checkpoint]
        if not self._landing_sites or not self.ids:
            return
        rng = self._land_rng
        per_s = min(MOST_AN_HOUR, len(self.ids) * DAILY_SHARE / 24) / 3600.0
        t = rng.expovariate(per_s)
        while t < self.end_s:
            self.push(t, LAND, self._landing_sites[rng.randrange(len(self._landing_sites))])
            t += rng.expovariate(per_s)

    def land(self, t: float, site_idx: int) -> None:
        """A traveller lands at ``site_idx`` at ``t``: the checkpoint registers the arrival,
        and the traveller joins the site's queue for a test."""
        rng = self._land_rng
        # travellers have been away: not sampled in the round so far (nor in isolation, nor
        # held at home by a sealed zone), and no one lands twice; their routine visits before
        # landing, or on their way home, are missed (``RoundState.away``)
        for _ in range(20):
            person = rng.randrange(len(self.ids))
            if not (self.sampled[person] or self.isolated[person] or person in self.landed_at
                    or self.held(person, t)):
                break
        else:
            return
        site = self.sites[site_idx]
        risk = rng.choices(ARRIVAL_RISKS, RISK_SHARES)[0]
        unseen = [r for r in ARRIVAL_RISKS if not self.landings.by_risk[r]]
        if t >= self.end_s * SEEDED_AT_LEAST_ONCE and unseen and risk not in unseen:
            risk = unseen[-1]
        self.p.status.register_arrival(site.principal, self.ids[person], site.id,
                                       rng.choice(ORIGINS), risk, self.at(t))
        self.calls += 1
        self.landed_at[person] = t
        self.landings.by_risk[risk] += 1
        swab = t + rng.uniform(*TO_THE_SWAB_S)
        heapq.heappush(site.queue, (swab, LANDING, person))
        self.flush_at(site, self.align(swab))
