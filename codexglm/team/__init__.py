"""The team gateway: member keys, their limits, shared state, metrics and the dashboard.

`members` (a key and its limits, pure), `store` (the tables, on the ledger's SQLite file or
PostgreSQL), `gate` (the checks every member request passes before going upstream),
`metrics` (Prometheus), `dashboard` (the admin page).  The server imports this package,
never the other way round.
"""
