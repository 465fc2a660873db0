"""Launch overhead: time until codex starts, through `codexglm` vs running codex directly.

A thin wrapper stands in for the codex executable: it records CLOCK_MONOTONIC (shared by all
processes on Linux) the moment it runs, then execs the real codex.  Both paths start the same
wrapper, so the ratio isolates what codexglm adds (config, catalog cache lookup, socket bind,
spawn); the proxy itself starts after codex, on the already-bound socket.

Run: python bench/bench_launch.py [runs]
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.codex_cli import codex_binary  # noqa: E402

_WRAPPER = """#!{python} -S
import os, sys, time
with open(os.environ["BENCH_STAMP"], "w") as f:
    f.write(repr(time.monotonic()))
os.execv({codex!r}, [{codex!r}, *sys.argv[1:]])
"""


def _wrapper(directory: pathlib.Path, codex: str) -> pathlib.Path:
    """An npm-shaped package so codexglm reads the version instead of running codex twice."""
    package = directory / "node_modules" / "@openai" / "codex"
    (package / "bin").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "@openai/codex", "version": "0.169.0"}))
    script = package / "bin" / "codex.js"
    script.write_text(_WRAPPER.format(python=sys.executable, codex=codex))
    script.chmod(0o755)
    return script


def _time_to_start(command: list[str], env: dict[str, str], stamp: pathlib.Path) -> float:
    stamp.unlink(missing_ok=True)
    start = time.monotonic()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    return float(stamp.read_text()) - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    codex = codex_binary(install_missing=False) or shutil.which("codex")
    if codex is None:
        sys.exit("no codex found: run `python -m tests.codex_cli --install` or install @openai/codex")
    launcher = shutil.which("codexglm", path=str(pathlib.Path(sys.executable).parent))
    glm = [launcher] if launcher else [sys.executable, "-m", "codexglm"]
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        wrapper = str(_wrapper(root, codex))
        stamp = root / "stamp"
        env = {**os.environ, "BENCH_STAMP": str(stamp), "CODEXGLM_CODEX": wrapper, "ZAI_API_KEY": "bench-key-0000",
               "CODEXGLM_CONFIG_DIR": str(root / "config"), "CODEXGLM_STATE_DIR": str(root / "state"),
               "CODEXGLM_CACHE_DIR": str(root / "cache")}
        _time_to_start([*glm, "--version"], env, stamp)  # builds and caches the catalog once
        direct, through = [], []
        for _ in range(runs):
            direct.append(_time_to_start([wrapper, "--version"], env, stamp))
            through.append(_time_to_start([*glm, "--version"], env, stamp))
    base, ours = statistics.median(direct), statistics.median(through)
    print(f"time until codex starts, median of {runs} runs")
    print(f"  codex directly     {base * 1e3:7.1f} ms")
    print(f"  through codexglm   {ours * 1e3:7.1f} ms   ({ours / base:.1f}x; overhead {(ours - base) * 1e3:.1f} ms, target < 150 ms)")


if __name__ == "__main__":
    main()
