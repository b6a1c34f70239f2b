"""The one HTTP stack: httpx, one retry policy, token buckets, and a clock that can be scaled."""
