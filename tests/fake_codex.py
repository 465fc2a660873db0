#!/usr/bin/env python3
"""A stand-in `codex` for lifecycle tests (the tests install a copy with their python).

Answers `--version`, `--help`, `exec --help` and `debug models --bundled` like the Codex
FAKE_CODEX_VERSION names (0.169.0 by default); otherwise it logs its
argv and environment, then runs the steps in FAKE_CODEX_SCRIPT (comma-separated):
  request        call the proxy named in its -c overrides (FAKE_CODEX_PATH: models|responses)
  sleep:SECONDS  sleep (signals interrupt it and are logged)
  wait-signal    wait (up to 30 s) until a signal arrives
  exit:CODE      exit with CODE
  kill:SIGNAL    kill itself with SIGNAL (e.g. KILL)
Signals named in FAKE_CODEX_IGNORE (e.g. "TERM,INT") are logged and ignored; SIGTERM,
SIGHUP and SIGINT are otherwise logged and then kill it as they would by default.
Everything is appended as JSON lines to FAKE_CODEX_LOG.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time

LOG = os.environ.get("FAKE_CODEX_LOG", "")
VERSION = os.environ.get("FAKE_CODEX_VERSION", "0.169.0")
INSTRUCTIONS = "You are Codex, a coding agent based on GPT-5. Be helpful."
BUNDLED = {
    "models": [
        {
            "slug": "gpt-lite",
            "display_name": "GPT Lite",
            "use_responses_lite": True,
            "apply_patch_tool_type": "freeform",
            "shell_type": "unified_exec",
            "visibility": "list",
            "base_instructions": "lite instructions",
        },
        {
            "slug": "gpt-5.5",
            "display_name": "GPT-5.5",
            "use_responses_lite": False,
            "apply_patch_tool_type": "freeform",
            "shell_type": "unified_exec",
            "visibility": "list",
            "supported_in_api": True,
            "priority": 13,
            "truncation_policy": {"mode": "tokens", "limit": 10000},
            "upgrade": {"model": "gpt-6"},
            "service_tiers": [{"id": "priority"}],
            "effective_context_window_percent": 95,
            "model_messages": {"instructions_template": INSTRUCTIONS, "approvals": None},
            "base_instructions": INSTRUCTIONS,
        },
    ]
}
received: list[int] = []


def log(event: str, **fields: object) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": event, **fields}) + "\n")


def on_signal(signum: int, frame: object) -> None:
    received.append(signum)
    log("signal", signal=signal.Signals(signum).name)
    if signal.Signals(signum).name[3:] not in ignored():
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def ignored() -> set[str]:
    return {name.strip().upper() for name in os.environ.get("FAKE_CODEX_IGNORE", "").split(",") if name.strip()}


def provider() -> tuple[str, str]:
    """(base_url, env_key) from the -c model_providers.X={...} override."""
    for arg in sys.argv:
        if arg.startswith("model_providers."):
            base = re.search(r'base_url="([^"]+)"', arg)
            key = re.search(r'env_key="([^"]+)"', arg)
            if base and key:
                return base.group(1), key.group(1)
    raise SystemExit("fake codex: no provider override")


def request() -> None:
    import urllib.error
    import urllib.request

    base, env_key = provider()
    path = os.environ.get("FAKE_CODEX_PATH", "models")
    data = None
    if path == "responses":
        body = {
            "model": "glm-5.1",
            "stream": True,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        }
        data = json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/{path}", data=data, method="POST" if data else "GET")
    req.add_header("Authorization", f"Bearer {os.environ.get(env_key, '')}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as response:
            status, text = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    except OSError as exc:
        status, text = 0, repr(exc)
    log("request", path=path, status=status, body=text[:4000])


def session() -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, on_signal)
    env = {k: v for k, v in os.environ.items() if k.startswith(("CODEXGLM", "ZAI_"))}
    log("start", argv=sys.argv[1:], env=env, pid=os.getpid(), ppid=os.getppid())
    for step in filter(None, os.environ.get("FAKE_CODEX_SCRIPT", "exit:0").split(",")):
        action, _, arg = step.partition(":")
        if action == "request":
            request()
        elif action == "sleep":
            deadline = time.monotonic() + float(arg)
            while time.monotonic() < deadline:
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        elif action == "wait-signal":
            deadline = time.monotonic() + 30
            count = len(received)
            while len(received) == count and time.monotonic() < deadline:
                time.sleep(0.02)
        elif action == "exit":
            log("exit", code=int(arg))
            return int(arg)
        elif action == "kill":
            os.kill(os.getpid(), getattr(signal, f"SIG{arg}"))
    log("exit", code=0)
    return 0


def version() -> tuple[int, ...]:
    return tuple(int(part) for part in VERSION.split("-")[0].split("."))


def root_help(at: tuple[int, ...]) -> str:
    """The parts of Codex's root help codexglm reads: commands, and --no-daemon from 0.156."""
    lines = ["Usage: codex [OPTIONS] [PROMPT]", "", "Commands:",
             "  exec        Run Codex non-interactively [aliases: e]",
             "  review      Run a code review non-interactively", "  login       Manage login",
             "  mcp         Manage external MCP servers for Codex", "  debug       Debugging tools",
             "  apply       Apply the latest diff produced by Codex agent as a `git apply` to your local",
             "              working tree [aliases: a]",
             "  resume      Resume a previous interactive session", "  fork        Fork a previous interactive session",
             "  help        Print this message or the help of the given subcommand(s)", "", "Options:",
             "  -c, --config <key=value>", "          Override a configuration value"]
    if at >= (0, 156, 0):
        lines += ["      --no-daemon", "          Run the TUI without the shared app-server daemon"]
    return "\n".join(lines)


def exec_help(at: tuple[int, ...]) -> str:
    """`codex exec --help`: its subcommands, and --remote from 0.171."""
    lines = ["Usage: codex exec [OPTIONS] [PROMPT] [COMMAND]", "", "Commands:",
             "  resume  Resume a previous session by id or pick the most recent with --last",
             "  review  Run a code review against the current repository", "", "Options:",
             "  -c, --config <key=value>", "          Override a configuration value"]
    if at >= (0, 171, 0):
        lines += ["      --remote <ADDR>", "          Connect to an existing app server"]
    return "\n".join(lines)


def effective_overrides(args: list[str]) -> list[str]:
    """The -c values Codex applies: up to 0.163 a subcommand's own -c drop the root ones."""
    root: list[str] = []
    sub: list[str] = []
    current = root
    positional = False  # after a prompt or session id, words are no longer subcommands
    items = iter(args)
    for arg in items:
        if arg == "--":
            break
        if arg in ("-c", "--config"):
            current.append(next(items, ""))
        elif arg in ("-m", "--model"):
            next(items, None)
        elif arg in ("exec", "e", "resume", "review", "fork") and not positional:
            current = sub
        elif not arg.startswith("-"):
            positional = True
    if version() < (0, 164, 0) and sub:
        return sub
    return root + sub


def provider_error(args: list[str]) -> str | None:
    """Codex's refusal of a model_provider that no override (or built-in) defines."""
    overrides = effective_overrides(args)
    chosen = [o.split("=", 1)[1].strip('"') for o in overrides if o.startswith("model_provider=")]
    if not chosen or chosen[-1] == "openai":
        return None
    if any(o.startswith(f"model_providers.{chosen[-1]}=") for o in overrides):
        return None
    return f"Model provider `{chosen[-1]}` not found"


def main() -> int:
    args = sys.argv[1:]
    if args == ["--version"]:
        print(f"codex-cli {VERSION}")
        return 0
    if args in (["--help"], ["exec", "--help"]):
        print(root_help(version()) if args == ["--help"] else exec_help(version()))
        return 0
    if args[-3:] == ["debug", "models", "--bundled"]:
        if os.environ.get("FAKE_CODEX_BUNDLED_FAIL"):
            print("error: no bundled catalog", file=sys.stderr)
            return 1
        print(json.dumps(BUNDLED))
        return 0
    refusal = provider_error(args)
    if refusal:
        print(f"Error: {refusal}", file=sys.stderr)
        return 1
    if not any(o.startswith("model_provider=") for o in effective_overrides(args)) and "debug" not in args:
        log("fallback", argv=args)  # the prompt would go to OpenAI
        print("No prompt provided via stdin.", file=sys.stderr)
        return 1
    return session()


if __name__ == "__main__":
    sys.exit(main())
