"""The usage ledger: one row per upstream request, what it used and what it cost.

`terms` names the ranges and groupings (read by the CLI table on the launch path, so this
package imports nothing by itself), `entry` holds the row and its sums, `store` the
storage interface and its SQLite backend, `writer` the recorder the proxy calls,
`report` what `codexglm usage` and the exit line print.  Standard library only.
"""
