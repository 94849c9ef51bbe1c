"""The SMS rate limit paces sends to the configured rate, allowing a short burst."""

from __future__ import annotations

from hesuan.services.notify import RateLimit


def test_token_bucket_paces_sends() -> None:
    t = [0.0]
    slept: list[float] = []

    def sleep(d: float) -> None:
        slept.append(d)
        t[0] += d

    bucket = RateLimit(per_second=10, burst=5, monotonic=lambda: t[0], sleep=sleep)
    for _ in range(25):
        bucket.acquire()
    # 5 in the burst, then 20 more at 10/s: about 2 s of waiting, never faster than the rate
    assert abs(sum(slept) - 2.0) < 1e-6
    assert all(abs(d - 0.1) < 1e-9 for d in slept)
