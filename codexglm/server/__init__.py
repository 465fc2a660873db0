"""The translating proxy Codex talks to: Responses API in, GLM Chat Completions out."""

from .app import create_app
from .hosting import serve

__all__ = ["create_app", "serve"]
