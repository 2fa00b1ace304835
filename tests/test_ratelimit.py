"""The shared rate limiter, on a fake clock."""

from __future__ import annotations

import pytest

from dbt_braze.ratelimit import PACE, RateLimiter, parse_reset


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0
        self.on_sleep = None

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds
        self.wall += seconds
        if self.on_sleep:
            hook, self.on_sleep = self.on_sleep, None
            hook()


def limiter(t: FakeTime, limit: int = 10, window: float = 1.0) -> RateLimiter:
    return RateLimiter(limit, window, clock=t.clock, wall_clock=t.wall_clock, sleep=t.sleep)


def test_requests_are_spaced_evenly_just_under_the_configured_rate() -> None:
    t = FakeTime()
    rl = limiter(t, limit=100, window=3.0)
    start = t.now
    for _ in range(101):
        rl.acquire()
    assert t.now - start == pytest.approx(100 * 3.0 / (100 * PACE))


def test_epoch_and_seconds_remaining_resets_are_told_apart() -> None:
    assert parse_reset("1700000003", 1_700_000_000.0) == 3.0
    assert parse_reset("3", 1_700_000_000.0) == 3.0
    assert parse_reset("1699999990", 1_700_000_000.0) == 0.0  # already past
    assert parse_reset("soon", 1_700_000_000.0) is None


@pytest.mark.parametrize("style", ["epoch", "seconds"])
def test_a_spent_window_makes_workers_wait_for_its_reset(style: str) -> None:
    t = FakeTime()
    rl = limiter(t, limit=1000, window=1.0)
    reset = str(int(t.wall) + 5) if style == "epoch" else "5"
    rl.observe(
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    )
    before = t.now
    rl.acquire()
    assert t.now - before == pytest.approx(5.0)


def test_requests_started_since_count_against_the_remaining_budget() -> None:
    t = FakeTime()
    rl = limiter(t, limit=1000, window=1.0)
    headers = {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "4"}
    rl.observe(headers, started=3)  # three requests are in flight beyond Braze's count
    before = t.now
    rl.acquire()
    assert t.now - before == pytest.approx(4.0)


def test_the_remaining_budget_is_spread_over_the_time_to_the_reset() -> None:
    t = FakeTime()
    rl = limiter(t, limit=100_000, window=1.0)
    rl.observe({"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": "2.5"})
    before = t.now
    for _ in range(3):
        rl.acquire()
    assert t.now - before == pytest.approx(2 * 2.5 / 10, rel=0.05)


def test_a_whole_second_reset_is_spread_over_its_earliest_moment() -> None:
    t = FakeTime()
    rl = limiter(t, limit=100_000, window=1.0)
    rl.observe({"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": "3"})  # in (2, 3] seconds
    before = t.now
    for _ in range(3):
        rl.acquire()
    assert t.now - before == pytest.approx(2 * 2.0 / 10, rel=0.05)


def test_news_arriving_while_a_worker_waits_holds_it_back() -> None:
    t = FakeTime()
    rl = limiter(t, limit=10, window=1.0)
    rl.acquire()  # the next slot is ~0.1 s away
    t.on_sleep = lambda: rl.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3.0"})
    before = t.now
    rl.acquire()
    assert t.now - before > 2.5  # it waited for the reset, not just its slot


def test_a_429_blocks_everyone_until_retry_after() -> None:
    t = FakeTime()
    rl = limiter(t, limit=1000, window=1.0)
    rl.block(7.0)
    before = t.now
    rl.acquire()
    assert t.now - before == pytest.approx(7.0)


def test_a_late_answer_from_an_earlier_window_is_ignored() -> None:
    t = FakeTime()
    rl = limiter(t, limit=1000, window=1.0)
    rl.observe({"X-RateLimit-Remaining": "500", "X-RateLimit-Reset": "3.0"})
    rl.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.5"})  # stale
    before = t.now
    rl.acquire()
    assert t.now - before < 0.1


def test_after_a_window_rolls_over_the_servers_own_rate_paces_the_next() -> None:
    t = FakeTime()
    rl = limiter(t, limit=3000, window=3.0)  # believes Braze's default
    rl.observe(
        {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9", "X-RateLimit-Reset": "1.0"}
    )
    t.sleep(1.5)  # the window is over
    rl.acquire()
    before = t.now
    rl.acquire()
    assert t.now - before == pytest.approx(1.0 / (10 * PACE))


def test_headers_are_read_whatever_their_case() -> None:
    t = FakeTime()
    rl = limiter(t, limit=1000, window=1.0)
    rl.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"})
    before = t.now
    rl.acquire()
    assert t.now - before == pytest.approx(2.0)
