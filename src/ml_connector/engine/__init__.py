"""The engine: durable store, vault, audit trail, exactly-once posting, leases and replay.

Everything a flow writes to an ERP goes through ``posting.PostingEngine``; everything the engine
remembers lives in ``store.Store`` (SQLite by default, PostgreSQL by URL).
"""
