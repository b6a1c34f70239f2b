"""The one HTTP stack: httpx, one retry policy and token buckets (time comes from ``ml_connector.clock``)."""
