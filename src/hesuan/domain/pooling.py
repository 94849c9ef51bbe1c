"""Pooled-testing statistics (混采): prevalence from pool results, its 95% interval, and the
pool size to recommend.

A pool of ``k`` people is positive when at least one member is infected, so with a person-level
prevalence ``p`` a pool is positive with probability ``π = 1 − (1 − p)^k``. From ``x`` positive
pools out of ``n`` (one size) the estimate is ``p̂ = 1 − (1 − x/n)^(1/k)``; its 95% interval is
the Clopper–Pearson interval of ``x/n`` mapped through the same (increasing) formula. With pools
of several sizes ``p̂`` is the maximum-likelihood estimate and the interval is the likelihood-ratio
(profile) interval, which reduces to the same answer's shape and needs no normal approximation.

Pool size advice (DESIGN.md §2): Dorfman's expected tests per person for pools of ``k`` is
``E(k, p) = 1/k + 1 − (1 − p)^k`` (``E(1) = 1``); the recommendation minimises ``E`` over the
allowed sizes at the *upper* 95% bound of ``p``. When the best pool size over all integers is
smaller than the smallest allowed pool (above ≈6.6% for 5), pooling is no longer efficient with
the sizes on offer and single tubes are recommended. That gives: 20 below ≈0.54%, 10 to ≈2.4%,
5 to ≈6.6%, else 1.

The beta quantile for Clopper–Pearson is computed here (no SciPy): the regularised incomplete
beta function by its continued fraction (Lentz's method) with ``math.lgamma``, inverted by
bisection.

Imports: standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ALLOWED_POOL_SIZES",
    "Estimate",
    "PoolCounts",
    "beta_ppf",
    "clopper_pearson",
    "counts_from_mapping",
    "dorfman_tests_per_person",
    "estimate_prevalence",
    "pool_prevalence",
    "recommend_pool_size",
    "regularized_beta",
]

ALLOWED_POOL_SIZES: tuple[int, ...] = (1, 5, 10, 20)

#: χ²(1) 95% quantile: the likelihood-ratio interval keeps every p with 2·Δℓ ≤ this.
_CHI2_95 = 3.841458820694124
_EPS = 1e-15


# --- the regularised incomplete beta function and its inverse --------------------------------

def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction for I_x(a, b) (modified Lentz), converging for x < (a+1)/(a+b+2)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 3e-16:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b})")


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b), the CDF of the Beta(a, b) distribution at ``x`` (a, b > 0)."""
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def beta_ppf(q: float, a: float, b: float) -> float:
    """The ``q`` quantile of Beta(a, b): the x with I_x(a, b) = q, by bisection."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be in [0, 1]")
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if regularized_beta(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15 * max(mid, 1e-300) or hi - lo < 1e-300:
            break
    return (lo + hi) / 2


def clopper_pearson(x: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion x/n."""
    if n <= 0 or not 0 <= x <= n:
        raise ValueError("need 0 <= x <= n and n > 0")
    alpha = 1.0 - confidence
    lower = 0.0 if x == 0 else beta_ppf(alpha / 2, x, n - x + 1)
    upper = 1.0 if x == n else beta_ppf(1 - alpha / 2, x + 1, n - x)
    return lower, upper


# --- prevalence from pools -------------------------------------------------------------------

def pool_prevalence(pool_positive_rate: float, k: int) -> float:
    """p = 1 − (1 − π)^(1/k): person-level prevalence from the pool-positive rate π."""
    if k < 1:
        raise ValueError("pool size k must be >= 1")
    pi = min(max(pool_positive_rate, 0.0), 1.0)
    return 1.0 - math.pow(1.0 - pi, 1.0 / k)


@dataclass(frozen=True, slots=True)
class PoolCounts:
    """Pools of one size: how many were tested and how many were positive."""

    size: int
    tested: int
    positive: int


@dataclass(frozen=True, slots=True)
class Estimate:
    p_hat: float | None  # None when no pool was tested
    lower: float | None
    upper: float | None
    method: str  # "clopper_pearson" | "likelihood_ratio" | "none"
    pools_tested: int
    pools_positive: int
    people_tested: int


def _loglik(p: float, counts: list[PoolCounts]) -> float:
    """Log-likelihood of p for pools of several sizes (−inf where impossible)."""
    if p <= 0.0:
        return 0.0 if all(c.positive == 0 for c in counts) else -math.inf
    if p >= 1.0:
        return 0.0 if all(c.positive == c.tested for c in counts) else -math.inf
    log_q = math.log1p(-p)
    total = 0.0
    for c in counts:
        neg = c.tested - c.positive
        if neg:
            total += neg * c.size * log_q
        if c.positive:
            total += c.positive * math.log(-math.expm1(c.size * log_q))
    return total


def _score(p: float, counts: list[PoolCounts]) -> float:
    """d/dp of the log-likelihood; decreasing in p, so its root is the MLE."""
    q = 1.0 - p
    s = 0.0
    for c in counts:
        qk = q ** c.size
        s -= (c.tested - c.positive) * c.size / q
        if c.positive:
            s += c.positive * c.size * q ** (c.size - 1) / (1.0 - qk)
    return s


def _bisect(pred: Callable[[float], bool], lo: float, hi: float) -> float:
    """The boundary in [lo, hi] where ``pred`` turns from True (below) to False (above)."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if pred(mid):
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * max(mid, 1e-300):
            break
    return (lo + hi) / 2


def estimate_prevalence(pools: Iterable[PoolCounts], confidence: float = 0.95) -> Estimate:
    """Prevalence estimate and interval from pools of one or several sizes."""
    counts = [c for c in pools if c.tested > 0]
    for c in counts:
        if c.size < 1 or not 0 <= c.positive <= c.tested:
            raise ValueError(f"bad pool counts {c}")
    n = sum(c.tested for c in counts)
    x = sum(c.positive for c in counts)
    people = sum(c.tested * c.size for c in counts)
    if n == 0:
        return Estimate(None, None, None, "none", 0, 0, 0)
    sizes = {c.size for c in counts}
    if len(sizes) == 1:
        k = counts[0].size
        lo, hi = clopper_pearson(x, n, confidence)
        return Estimate(pool_prevalence(x / n, k), pool_prevalence(lo, k),
                        pool_prevalence(hi, k), "clopper_pearson", n, x, people)
    # Mixed sizes: maximum likelihood, and the likelihood-ratio interval around it.
    if x == 0:
        p_hat = 0.0
    elif x == n:
        p_hat = 1.0
    else:
        p_hat = _bisect(lambda p: _score(p, counts) > 0, 0.0, 1.0)
    crit = _CHI2_95 if confidence == 0.95 else _chi2_1(confidence)
    top = _loglik(p_hat, counts)

    def inside(p: float) -> bool:
        return 2.0 * (top - _loglik(p, counts)) <= crit

    lower = 0.0 if x == 0 or inside(0.0) else _bisect(lambda p: not inside(p), 0.0, p_hat)
    upper = 1.0 if x == n or inside(1.0 - _EPS) else _bisect(inside, p_hat, 1.0)
    return Estimate(p_hat, lower, upper, "likelihood_ratio", n, x, people)


def _chi2_1(confidence: float) -> float:
    """χ²(1) quantile via the normal quantile: (Φ⁻¹((1+c)/2))²."""
    target = (1.0 + confidence) / 2
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * math.erfc(-mid / math.sqrt(2)) < target:
            lo = mid
        else:
            hi = mid
    return ((lo + hi) / 2) ** 2


# --- pool size advice ------------------------------------------------------------------------

def dorfman_tests_per_person(k: int, p: float) -> float:
    """Dorfman's expected tests per person with pools of k: 1/k + 1 − (1−p)^k; 1 for k = 1."""
    if k < 1:
        raise ValueError("k must be >= 1")
    if k == 1:
        return 1.0
    return 1.0 / k + 1.0 - (1.0 - p) ** k


def recommend_pool_size(p: float, allowed: Iterable[int] = ALLOWED_POOL_SIZES) -> int:
    """The allowed pool size minimising Dorfman's E(k, p) (use the upper bound of p);
    1 once the best size over all integers is below the smallest allowed pool."""
    sizes = sorted(set(allowed))
    pooled = [k for k in sizes if k > 1]
    if not pooled:
        return 1
    best_any = min(range(1, max(pooled) + 1), key=lambda k: (dorfman_tests_per_person(k, p), -k))
    if best_any < pooled[0]:
        return 1
    candidates = sizes if 1 in sizes else pooled
    return min(candidates, key=lambda k: (dorfman_tests_per_person(k, p), -k))


def counts_from_mapping(by_size: Mapping[int, tuple[int, int]]) -> list[PoolCounts]:
    """{size: (tested, positive)} → PoolCounts, sorted by size."""
    return [PoolCounts(k, t, x) for k, (t, x) in sorted(by_size.items())]
