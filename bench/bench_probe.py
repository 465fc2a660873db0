"""What the guard against a silent provider fallback costs a launch whose own `-c` follow a
subcommand: the probe run of Codex the first time a command shape is seen, and the cached
answer afterwards, with the pinned Codex (or `python bench/bench_probe.py /path/to/codex`).

Run: python bench/bench_probe.py [codex [runs]]
"""

from __future__ import annotations

import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codexglm.codex.capabilities import capabilities  # noqa: E402
from codexglm.codex.guard import ensure_provider_used  # noqa: E402
from codexglm.codex.overrides import codex_overrides  # noqa: E402
from codexglm.codex.version import find_codex, format_version  # noqa: E402
from codexglm.settings import Settings  # noqa: E402
from tests.codex_cli import codex_binary  # noqa: E402

ARGS = ["exec", "-c", 'mcp_servers.x.command="true"', "a prompt"]


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else codex_binary(install_missing=False)
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    if path is None:
        sys.exit("no codex found: run `python -m tests.codex_cli --install`")
    codex = find_codex({"CODEXGLM_CODEX": path})
    overrides = codex_overrides(1, Settings(), catalog=None, model=None)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        able = capabilities(codex, root)
        env = {**os.environ, "CODEX_HOME": str(root)}
        first, cached = [], []
        for run in range(runs):
            cache = root / f"cache-{run}"
            cache.mkdir()
            for timings in (first, cached):
                start = time.perf_counter()
                ensure_provider_used(codex, ARGS, overrides, able, env, cache=cache)
                timings.append(time.perf_counter() - start)
    print(f"provider probe with Codex {format_version(codex.version)}, median of {runs} runs")
    print(f"  first launch of a shape  {statistics.median(first) * 1e3:7.1f} ms")
    print(f"  later launches (cached)  {statistics.median(cached) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
