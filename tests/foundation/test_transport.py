import threading

import httpx
import pytest

from ml_connector.clock import Clock
from ml_connector.errors import TransientError
from ml_connector.transport.client import ApiClient
from ml_connector.transport.ratelimit import TokenBucket
from ml_connector.transport.retry import RetryPolicy, retry_after_seconds


class ManualClock(Clock):
    """Simulated time that only moves when the test (or a sleep) moves it."""

    def __init__(self) -> None:
        super().__init__()
        self.t = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += max(seconds, 0)


def test_bucket_allows_burst_then_refills_at_rate():
    clock = ManualClock()
    bucket = TokenBucket(rate=0.5, burst=3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    clock.t += 2.0  # one token at 0.5/s
    assert bucket.try_take() is True
    assert bucket.try_take() is False


def test_bucket_acquire_waits_exactly_the_refill_time():
    clock = ManualClock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.5)
    assert bucket.acquire() == pytest.approx(0.5)
    assert clock.t == pytest.approx(1.0)


def test_bucket_reservations_queue_fairly_across_threads():
    clock = ManualClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def reserve():
        wait = bucket.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=reserve) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0, 1, 2, 3, 4])


def test_set_rate_changes_refill():
    clock = ManualClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    bucket.try_take()
    bucket.set_rate(0.25)
    clock.t += 2
    assert bucket.try_take() is False
    clock.t += 2
    assert bucket.try_take() is True


def test_scaled_clock_runs_faster_than_wall_time():
    clock = Clock(scale=1000)
    start = clock.monotonic()
    clock.sleep(5)  # five simulated seconds = 5 ms real
    assert clock.monotonic() - start >= 5
    clock.advance(3600)
    assert clock.monotonic() - start >= 3605


def test_backoff_is_full_jitter_and_capped():
    policy = RetryPolicy(base=1, cap=8, rng=lambda: 1.0)
    assert [policy.backoff(n) for n in range(6)] == [1, 2, 4, 8, 8, 8]
    zero = RetryPolicy(base=1, cap=8, rng=lambda: 0.0)
    assert zero.backoff(5) == 0
    assert zero.backoff(5, retry_after=3) == 3  # Retry-After is a floor


def test_retry_after_parses_seconds_and_dates():
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    assert (
        retry_after_seconds(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
        == 0
    )
    assert retry_after_seconds(httpx.Response(429)) is None


def _client(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://127.0.0.1")


def test_retries_survive_429_5xx_and_dropped_connections():
    answers = iter(["drop", 429, 503, 500, 200])
    seen = []

    def handler(request):
        answer = next(answers)
        seen.append(answer)
        if answer == "drop":
            raise httpx.RemoteProtocolError("peer closed", request=request)
        return httpx.Response(answer, headers={"Retry-After": "2"} if answer == 429 else {})

    clock = ManualClock()
    hooks = []
    with _client(handler) as client:
        api = ApiClient("test", retry=RetryPolicy(clock=clock, rng=lambda: 0.0), http=client)
        api.on_retry.append(lambda label, resp, err: hooks.append((resp and resp.status_code, bool(err))))
        response = api.send("GET", "http://127.0.0.1/x", label="x")
    assert response.status_code == 200
    assert seen == ["drop", 429, 503, 500, 200]
    assert clock.slept == [0, 2, 0, 0]  # only the 429 asked for a wait
    assert len(hooks) == 4 and api.retried["x"] == 4


def test_other_4xx_are_never_retried():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(400, json={"errors": [{"code": "InvalidInput"}]})

    with _client(handler) as client:
        api = ApiClient("test", retry=RetryPolicy(clock=ManualClock()), http=client)
        response = api.send("GET", "http://127.0.0.1/x", label="x")
    assert response.status_code == 400
    assert len(calls) == 1


def test_retries_give_up_with_transient_error():
    with _client(lambda request: httpx.Response(503)) as client:
        api = ApiClient("test", retry=RetryPolicy(attempts=3, clock=ManualClock()), http=client)
        with pytest.raises(TransientError, match="3 attempts"):
            api.send("GET", "http://127.0.0.1/x", label="x")
