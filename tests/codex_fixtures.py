"""Codex 0.169-shaped request bodies and items for the tests (written for this repo).

Shapes follow what the real binary sends to a `wire_api = "responses"` provider: base
instructions as the first developer message, a second developer message with skills and
permissions blocks, the environment context as a user message, then the history.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from codexglm.providers import GLM
from codexglm.translate import TranslateOptions

APPLY_PATCH_GRAMMAR = (
    'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF\nend_patch: "*** End Patch" LF?\n\n'
    'hunk: add_hunk | delete_hunk | update_hunk\nadd_hunk: "*** Add File: " filename LF add_line+\n'
    'delete_hunk: "*** Delete File: " filename LF\nupdate_hunk: "*** Update File: " filename LF change_move? change?\n\n'
    'filename: /(.+)/\nadd_line: "+" /(.*)/ LF -> line\n\n%import common.LF\n'
)

EXEC_COMMAND = {
    "type": "function",
    "name": "exec_command",
    "description": "Runs a command in a PTY, returning output or a session ID for ongoing interaction.",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {
            "cmd": {"type": "string", "description": "Shell command to execute."},
            "workdir": {"type": "string", "description": "Working directory."},
            "yield_time_ms": {"type": "number", "description": "How long to wait for output."},
        },
        "required": ["cmd"],
        "additionalProperties": False,
    },
}
VIEW_IMAGE = {
    "type": "function",
    "name": "view_image",
    "description": "View a local image file from the filesystem.",
    "strict": False,
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": False},
}
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "The `apply_patch` tool can be used to edit files. This is a FREEFORM tool, so do not wrap the patch in JSON.",
    "format": {"type": "grammar", "syntax": "lark", "definition": APPLY_PATCH_GRAMMAR},
}
MULTI_AGENT = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Tools for spawning and managing sub-agents.",
    "tools": [
        {"type": "function", "name": "spawn_agent", "description": "Spawn a sub-agent.", "strict": False,
         "parameters": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}},
        {"type": "function", "name": "wait_agent", "description": "Wait for agents.", "strict": False,
         "parameters": {"type": "object", "properties": {"targets": {"type": "array", "items": {"type": "string"}},
                                                         "timeout_ms": {"type": "number"}}, "required": ["targets"]}},
    ],
}
MCP_MINI = {
    "type": "namespace",
    "name": "mcp__mini",
    "description": "Tools in the mcp__mini namespace.",
    "tools": [
        {"type": "function", "name": "echo", "description": "Echo the given text back.", "strict": False,
         "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
    ],
}
WEB_SEARCH = {"type": "web_search", "external_web_access": False}
TOOLS = [EXEC_COMMAND, APPLY_PATCH, VIEW_IMAGE, MULTI_AGENT, MCP_MINI, WEB_SEARCH]

BASE_INSTRUCTIONS = "You are Codex, a coding agent running on GLM. Keep going until the task is done."
PERMISSIONS = "<permissions instructions>\nFilesystem sandboxing: danger-full-access.\n</permissions instructions>"
SKILLS = "<skills_instructions>\n## Skills\nNo skills are installed.\n</skills_instructions>"
ENVIRONMENT = "<environment_context>\n  <cwd>/home/dev/work</cwd>\n  <shell>bash</shell>\n</environment_context>"


def text_message(role: str, text: str, **extra: Any) -> dict:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "id": f"msg_{abs(hash((role, text))) % 10**8}", "role": role,
            "content": [{"type": kind, "text": text}], **extra}


def prefix() -> list[dict]:
    return [
        text_message("developer", BASE_INSTRUCTIONS),
        {"type": "message", "id": "msg_dev2", "role": "developer",
         "content": [{"type": "input_text", "text": SKILLS}, {"type": "input_text", "text": PERMISSIONS}]},
        text_message("user", ENVIRONMENT),
    ]


def function_call(call_id: str, name: str, arguments: dict, namespace: str | None = None) -> dict:
    item = {"type": "function_call", "status": "completed", "id": f"fc_{call_id}", "name": name,
            "arguments": json.dumps(arguments), "call_id": call_id}
    if namespace:
        item["namespace"] = namespace
    return item


def call_output(call_id: str, output: Any, kind: str = "function_call_output") -> dict:
    return {"type": kind, "id": f"fco_{call_id}", "call_id": call_id, "output": output}


def reasoning(text: str, blob: str | None = None) -> dict:
    return {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": text}],
            "content": None, "encrypted_content": blob}


def body(*history: dict, prompt: str = "Do the task", tools: list | None = None, **fields: Any) -> dict:
    """A complete streaming request as Codex 0.169 sends it."""
    request = {
        "model": "glm-5.1",
        "stream": True,
        "input": prefix() + [text_message("user", prompt)] + list(history),
        "tools": copy.deepcopy(TOOLS if tools is None else tools),
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "01a20829-49ab-7091-9e71-f5d09924647f",
        "client_metadata": {"session_id": "01a20829-49ab-7091-9e71-f5d09924647f"},
    }
    request.update(fields)
    return request


def options(**fields: Any) -> TranslateOptions:
    """Translation options as a default GLM launch has them, with FIELDS changed."""
    values: dict[str, Any] = {"provider": GLM, "default_model": GLM.default_model, **fields}
    return TranslateOptions(**values)
