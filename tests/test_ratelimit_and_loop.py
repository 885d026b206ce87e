"""The client-side ARM token buckets and the loop's timing (pure, with a fake clock)."""

import random
from types import SimpleNamespace

from controller.loop import LoopTiming
from controller.ratelimit import ArmRateLimiter, TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_allows_the_burst_then_refills_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(burst=200, rate=10, clock=clock, sleep=clock.sleep)
    waits = [bucket.take() for _ in range(200)]
    assert waits == [0.0] * 200 and clock.now == 0
    for _ in range(50):
        bucket.take()
    # 50 writes past the burst at 10/s: 5 seconds, paced 0.1 s apart
    assert abs(clock.now - 5.0) < 1e-9
    assert all(abs(s - 0.1) < 1e-9 for s in clock.slept)


def test_bucket_refills_while_idle_but_not_past_its_capacity():
    clock = FakeClock()
    bucket = TokenBucket(burst=5, rate=1, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.take()
    clock.now += 100
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() == 1.0


def test_reads_writes_and_deletes_use_their_own_buckets():
    limiter = ArmRateLimiter(write_burst=10, write_rate=0.001, read_burst=10, read_rate=0.001,
                             delete_burst=10, delete_rate=0.001)
    request = lambda method: SimpleNamespace(http_request=SimpleNamespace(method=method))  # noqa: E731
    for method in ("PUT", "DELETE", "PATCH", "GET", "delete"):
        limiter.before_request(request(method))
    assert int(limiter.writes._tokens) == 8 and int(limiter.reads._tokens) == 9 and int(limiter.deletes._tokens) == 8


def test_the_delete_bucket_is_arms_by_default():
    limiter = ArmRateLimiter()
    assert (limiter.deletes.burst, limiter.deletes.rate) == (200, 10)
    assert limiter.bucket_for("DELETE") is limiter.deletes and limiter.bucket_for("PUT") is limiter.writes


def test_loop_backs_off_exponentially_and_caps():
    timing = LoopTiming(interval=30, jitter=0, max_backoff=600)
    rng = random.Random(0)
    assert [timing.delay(n, rng) for n in range(7)] == [30, 60, 120, 240, 480, 600, 600]
    assert timing.delay(100_000, rng) == 600


def test_loop_jitter_stays_within_its_fraction():
    timing = LoopTiming(interval=30, jitter=0.1)
    delays = [timing.delay(0, random.Random(seed)) for seed in range(200)]
    assert 27 <= min(delays) < 28 and 32 < max(delays) <= 33
