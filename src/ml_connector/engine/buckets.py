"""Token buckets in the store's PostgreSQL database: one rate limit, however many workers share it.

Amazon's usage plans are per selling partner and operation, ERP quotas per tenant; with workers on
several machines a bucket in each process would let N workers send N times the plan. Each take is one
atomic ``UPDATE … RETURNING`` that refills the bucket from the database server's clock (so processes
started at different times agree) and takes a token, going into debt like ``TokenBucket.reserve``:
the caller waits out the debt in simulated time. Rates are per simulated second; the database clock is
real, so the refill counts ``real seconds × time_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

_CREATE = text(
    "INSERT INTO rate_buckets (name, tokens, rate, ceiling, burst, stamp) "
    "VALUES (:name, :burst, :rate, :rate, :burst, extract(epoch FROM clock_timestamp())) "
    "ON CONFLICT (name) DO NOTHING"
)
_TAKE = text(
    "UPDATE rate_buckets SET "
    "tokens = least(burst, tokens + greatest(0, extract(epoch FROM clock_timestamp()) - stamp) * :scale * rate)"
    " - :tokens, "
    "stamp = extract(epoch FROM clock_timestamp()) "
    "WHERE name = :name RETURNING tokens, rate, ceiling"
)
_THROTTLED = text(
    "UPDATE rate_buckets SET rate = greatest(ceiling * :floor, rate * :backoff), tokens = least(tokens, 0) "
    "WHERE name = :name RETURNING rate"
)
_RECOVER = text(
    "UPDATE rate_buckets SET rate = least(ceiling, rate * :recovery) WHERE name = :name AND rate < ceiling "
    "RETURNING rate"
)
_CEILING = text(
    "UPDATE rate_buckets SET ceiling = :ceiling, rate = least(rate, :ceiling) WHERE name = :name RETURNING rate"
)


@dataclass(frozen=True)
class Take:
    wait: float  # simulated seconds to wait before using the token
    rate: float
    ceiling: float


class SharedBuckets:
    """The buckets of one PostgreSQL store (``Store.shared_buckets()``)."""

    def __init__(self, engine: Engine, *, scale: float) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("shared rate limits live in a PostgreSQL store")
        self.engine = engine
        self.scale = scale

    def take(self, name: str, *, rate: float, burst: float, tokens: float = 1.0) -> Take:
        with self.engine.begin() as c:
            row = c.execute(_TAKE, {"name": name, "scale": self.scale, "tokens": tokens}).first()
            if row is None:  # first use anywhere: create it full, then take
                c.execute(_CREATE, {"name": name, "rate": rate, "burst": burst})
                row = c.execute(_TAKE, {"name": name, "scale": self.scale, "tokens": tokens}).one()
        left, current, ceiling = float(row[0]), float(row[1]), float(row[2])
        return Take(0.0 if left >= 0 else -left / current, current, ceiling)

    def throttled(self, name: str, *, backoff: float, floor: float) -> float | None:
        with self.engine.begin() as c:
            return c.execute(_THROTTLED, {"name": name, "backoff": backoff, "floor": floor}).scalar()

    def recover(self, name: str, *, recovery: float) -> float | None:
        with self.engine.begin() as c:
            return c.execute(_RECOVER, {"name": name, "recovery": recovery}).scalar()

    def set_ceiling(self, name: str, ceiling: float) -> float | None:
        with self.engine.begin() as c:
            return c.execute(_CEILING, {"name": name, "ceiling": ceiling}).scalar()
