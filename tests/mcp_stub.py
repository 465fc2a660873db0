"""A minimal MCP server over stdio with one tool, `echo`, for the end-to-end MCP scenario.

Codex starts it as `python tests/mcp_stub.py` and speaks newline-delimited JSON-RPC 2.0 on
its stdin/stdout.  Only what a tool call needs is implemented: the initialize handshake,
tools/list, tools/call and ping; any other request gets "method not found".
"""

from __future__ import annotations

import json
import sys
from typing import Any

SERVER_NAME = "mini"
ECHO_PREFIX = "ECHO:"
_FALLBACK_PROTOCOL = "2025-06-18"
_METHOD_NOT_FOUND = -32601
_INVALID_PARAMS = -32602

_ECHO_TOOL = {
    "name": "echo",
    "description": "Echo the given text back.",
    "inputSchema": {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "The text to echo."}},
        "required": ["text"],
    },
}


def _initialize(params: dict[str, Any]) -> dict[str, Any]:
    # Agree to whatever protocol revision the client asks for: the stub uses no feature
    # that differs between revisions.
    return {
        "protocolVersion": params.get("protocolVersion") or _FALLBACK_PROTOCOL,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {"name": SERVER_NAME, "version": "1.0.0"},
    }


def _call_tool(params: dict[str, Any]) -> dict[str, Any]:
    arguments = params.get("arguments") or {}
    if params.get("name") != "echo" or not isinstance(arguments.get("text"), str):
        raise _RpcError(_INVALID_PARAMS, f"unknown tool or bad arguments: {params.get('name')!r}")
    return {"content": [{"type": "text", "text": ECHO_PREFIX + arguments["text"]}], "isError": False}


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_HANDLERS = {
    "initialize": _initialize,
    "ping": lambda params: {},
    "tools/list": lambda params: {"tools": [_ECHO_TOOL]},
    "tools/call": _call_tool,
}


def _answer(message: dict[str, Any]) -> dict[str, Any] | None:
    """The response to one JSON-RPC message, or None for notifications."""
    if "id" not in message:
        return None
    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
    handler = _HANDLERS.get(message.get("method", ""))
    try:
        if handler is None:
            raise _RpcError(_METHOD_NOT_FOUND, f"method not found: {message.get('method')}")
        reply["result"] = handler(message.get("params") or {})
    except _RpcError as exc:
        reply["error"] = {"code": exc.code, "message": exc.message}
    return reply


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        reply = _answer(message) if isinstance(message, dict) else None
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
