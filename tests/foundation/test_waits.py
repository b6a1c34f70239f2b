"""Long waits announce what they wait for (the CLI's progress bar shows it)."""

from ml_connector.clock import Clock
from ml_connector.sources.amazon.limits import RateLimiter
from ml_connector.transport import waits


def test_a_rate_limit_wait_names_the_operation_and_the_time():
    heard: list[tuple[str, float]] = []
    stop = waits.listen(lambda reason, seconds: heard.append((reason, seconds)))
    try:
        limiter = RateLimiter(clock=Clock(10_000.0))
        bucket = limiter.bucket("getReports")  # 0.0222 requests/s, burst 10
        for _ in range(11):
            bucket.acquire()
    finally:
        stop()
    assert heard and heard[0][0] == "Amazon rate limit for getReports"
    assert 40 < heard[0][1] < 60  # one request per ~45 s once the burst is spent
    waits.announce("nobody listens", 100.0)  # no listener left: nothing happens
    assert len(heard) == 1


def test_short_waits_are_not_announced():
    heard: list[str] = []
    stop = waits.listen(lambda reason, seconds: heard.append(reason))
    try:
        waits.announce("a blink", 0.5)
    finally:
        stop()
    assert heard == []
