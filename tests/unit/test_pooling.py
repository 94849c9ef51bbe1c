"""Pooled-testing statistics: incomplete beta, Clopper–Pearson, prevalence MLE and interval,
Dorfman pool-size advice."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hesuan.domain.pooling import (
    PoolCounts,
    beta_ppf,
    clopper_pearson,
    dorfman_tests_per_person,
    estimate_prevalence,
    pool_prevalence,
    recommend_pool_size,
    regularized_beta,
)


def _binom_tail(x: int, n: int, p: float) -> float:
    """P(X >= x) for X ~ Bin(n, p), exactly."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(x, n + 1))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), data=st.data(), p=st.floats(0.001, 0.999))
def test_incomplete_beta_is_the_binomial_tail(n: int, data: st.DataObject, p: float) -> None:
    x = data.draw(st.integers(1, n))
    assert regularized_beta(p, x, n - x + 1) == pytest.approx(_binom_tail(x, n, p), abs=1e-10)


@settings(max_examples=100, deadline=None)
@given(a=st.floats(0.5, 500), b=st.floats(0.5, 50_000), q=st.floats(0.001, 0.999))
def test_beta_quantile_inverts_the_cdf(a: float, b: float, q: float) -> None:
    x = beta_ppf(q, a, b)
    assert regularized_beta(x, a, b) == pytest.approx(q, abs=1e-9)


def test_clopper_pearson_known_values() -> None:
    lo, hi = clopper_pearson(5, 100)
    assert lo == pytest.approx(0.016431879, rel=1e-6)
    assert hi == pytest.approx(0.112834911, rel=1e-6)
    assert clopper_pearson(0, 10)[0] == 0.0
    assert clopper_pearson(0, 10)[1] == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-9)
    lo, hi = clopper_pearson(10, 10)
    assert lo == pytest.approx(0.025 ** (1 / 10), rel=1e-9) and hi == 1.0


@settings(max_examples=150, deadline=None)
@given(k=st.sampled_from([1, 5, 10, 20]), n=st.integers(1, 3000), data=st.data())
def test_single_size_estimate_lies_inside_its_interval(k: int, n: int,
                                                      data: st.DataObject) -> None:
    x = data.draw(st.integers(0, n))
    est = estimate_prevalence([PoolCounts(k, n, x)])
    assert est.method == "clopper_pearson"
    assert est.p_hat is not None and est.lower is not None and est.upper is not None
    assert 0.0 <= est.lower <= est.p_hat <= est.upper <= 1.0
    assert est.p_hat == pytest.approx(pool_prevalence(x / n, k))


@settings(max_examples=150, deadline=None)
@given(n10=st.integers(1, 2000), n1=st.integers(1, 500), data=st.data())
def test_mixed_sizes_mle_lies_inside_its_interval(n10: int, n1: int,
                                                  data: st.DataObject) -> None:
    x10 = data.draw(st.integers(0, n10))
    x1 = data.draw(st.integers(0, n1))
    est = estimate_prevalence([PoolCounts(10, n10, x10), PoolCounts(1, n1, x1)])
    assert est.method == "likelihood_ratio"
    assert est.p_hat is not None and est.lower is not None and est.upper is not None
    assert 0.0 <= est.lower <= est.p_hat <= est.upper <= 1.0


def test_mixed_sizes_agree_with_the_single_size_formula_when_one_size_is_empty() -> None:
    a = estimate_prevalence([PoolCounts(10, 5000, 50), PoolCounts(1, 0, 0)])
    assert a.method == "clopper_pearson"
    mle = estimate_prevalence([PoolCounts(10, 5000, 50), PoolCounts(5, 1, 0)])
    assert mle.p_hat == pytest.approx(pool_prevalence(50 / 5000, 10), rel=2e-3)


def test_no_pools_no_estimate() -> None:
    est = estimate_prevalence([])
    assert est.p_hat is None and est.method == "none"


@pytest.mark.parametrize("sizes", [(10,), (10, 1), (20, 5)])
def test_interval_coverage_is_near_95_percent(sizes: tuple[int, ...]) -> None:
    """Simulated pools at a known prevalence: the interval covers it about 95% of the time."""
    rng = random.Random(20220829)
    p, reps, covered = 0.004, 300, 0
    for _ in range(reps):
        counts = []
        for k in sizes:
            n = 600 if k > 1 else 2000
            pi = 1 - (1 - p) ** k
            x = sum(1 for _ in range(n) if rng.random() < pi)
            counts.append(PoolCounts(k, n, x))
        est = estimate_prevalence(counts)
        assert est.lower is not None and est.upper is not None
        covered += est.lower <= p <= est.upper
    assert covered / reps >= 0.91


def test_dorfman_cost() -> None:
    assert dorfman_tests_per_person(1, 0.3) == 1.0
    assert dorfman_tests_per_person(10, 0.0) == pytest.approx(0.1)
    assert dorfman_tests_per_person(10, 0.01) == pytest.approx(0.1 + 1 - 0.99**10)


@pytest.mark.parametrize(("p", "k"), [
    (0.0, 20), (0.001, 20), (0.005, 20), (0.0056, 10), (0.01, 10), (0.023, 10), (0.025, 5),
    (0.05, 5), (0.065, 5), (0.067, 1), (0.3, 1), (1.0, 1),
])
def test_recommended_pool_size_follows_the_design_thresholds(p: float, k: int) -> None:
    assert recommend_pool_size(p) == k


@settings(max_examples=200, deadline=None)
@given(p=st.floats(0.0, 1.0), q=st.floats(0.0, 1.0))
def test_recommended_pool_size_never_grows_with_prevalence(p: float, q: float) -> None:
    lo, hi = sorted((p, q))
    assert recommend_pool_size(lo) >= recommend_pool_size(hi)
