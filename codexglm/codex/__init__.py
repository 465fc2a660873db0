"""What Codex is: everything that changes when Codex changes.

`version` (finding codex and the supported range), `argv` (which flags Codex owns),
`overrides` (the `-c` options that point it at the proxy), `catalog` (the model catalog),
`ratelimits` (the headers `/status` reads) and `contract` (the stream rules Codex holds
every response to, as one judge).
"""
