"""Who runs the units of work: one (connection, flow) run at a time per pair, on a schedule.

``schedule`` says which pairs are due (one description for every executor); ``local`` runs them in
this process (SQLite, the embedded default, or a single worker); ``queue`` hands them to procrastinate
workers on PostgreSQL, any number of them on any number of machines. Both call the same unit of work,
``flows.runner.run_flow``, so isolation, leases and the posting protocol are the same everywhere.
"""
