"""codexglm: run the OpenAI Codex CLI on Z.ai GLM models."""

__version__ = "0.1.0"
