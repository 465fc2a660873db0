"""A CODEX_HOME of codexglm's own for one launch, so `/model` never edits the user's config.

Codex's TUI persists a `/model` choice into `$CODEX_HOME/config.toml` (or the active
profile's file); no option sends that write elsewhere, on any supported version.  So Codex
runs with an overlay home: every entry of the user's CODEX_HOME is a symlink to the real
one (sessions, history, databases and auth are shared as before), except `config.toml` and
the profile files, which are copies.  When Codex is done, `carry_back()` takes the model and
reasoning effort Codex wrote out of the copies (they become codexglm's `default_model` and
`reasoning_effort`), gives every other edit (a folder's trust, a notice) to the user's
files, and moves anything Codex created in the overlay into the real home.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.toml"
# Codex 0.169's profiles are files of their own, `<name>.config.toml`; `/model` under
# `--profile <name>` writes there.
PROFILE_SUFFIX = ".config.toml"
# The keys `/model` writes; they are codexglm's, not the user's.
MODEL_KEYS = ("model", "model_reasoning_effort")
# Created up front in the real home, so a launch that is killed keeps its session files.
SHARED_DIRS = ("sessions",)


def user_codex_home(env: Mapping[str, str]) -> Path:
    """The user's own CODEX_HOME (Codex's rule: $CODEX_HOME, else ~/.codex)."""
    configured = env.get("CODEX_HOME")
    return Path(configured).expanduser() if configured else Path(env.get("HOME") or Path.home()) / ".codex"


def _is_config(name: str) -> bool:
    return name == CONFIG_FILE or name.endswith(PROFILE_SUFFIX)


@dataclass(frozen=True)
class ModelChoice:
    """What `/model` persisted during the run; None for a key it did not change."""

    model: str | None
    effort: str | None


class CodexHomeOverlay:
    """The overlay home of one launch; `path` is what Codex gets as CODEX_HOME."""

    def __init__(self, real: Path, path: Path) -> None:
        self.real = real
        self.path = path
        # Every config file's text as the launch found it (None: there was none).
        self._originals: dict[str, str | None] = {CONFIG_FILE: _read(real / CONFIG_FILE)}
        for profile in real.glob("*" + PROFILE_SUFFIX):
            self._originals[profile.name] = _read(profile)

    @classmethod
    def create(cls, real: Path, parent: Path) -> CodexHomeOverlay:
        """Build the overlay in PARENT (a private scratch directory)."""
        real.mkdir(parents=True, exist_ok=True)
        for name in SHARED_DIRS:
            (real / name).mkdir(exist_ok=True)
        path = parent / "codex-home"
        path.mkdir()
        overlay = cls(real, path)
        for entry in real.iterdir():
            if not _is_config(entry.name):
                (path / entry.name).symlink_to(entry)
        for name, text in overlay._originals.items():
            if text is not None:
                (path / name).write_text(text, encoding="utf-8")
        return overlay

    def carry_back(self) -> ModelChoice | None:
        """Put what Codex wrote where it belongs; the model choice it persisted, if any."""
        self._move_new_entries()
        choice = None
        for entry in sorted(self.path.iterdir()):
            if _is_config(entry.name) and not entry.is_symlink():
                choice = self._carry_config(entry.name) or choice
        return choice

    def _carry_config(self, name: str) -> ModelChoice | None:
        """One config file: its model keys are the choice; its other edits go to the user's."""
        original_text = self._originals.get(name)
        written = _read(self.path / name)
        if written is None or written == original_text:
            return None
        import tomlkit

        original = tomlkit.parse(original_text or "")
        document = tomlkit.parse(written)
        choice = _model_choice(original, document)
        for table_path in _tables_with_model_keys(document):
            _restore_model_keys(_table(document, table_path), _table(original, table_path))
        merged = tomlkit.dumps(document)
        if merged != (original_text or "") and _read(self.real / name) == original_text:
            # Only when the user did not edit their file meanwhile: theirs wins.
            from ..config import write_atomic

            write_atomic(self.real / name, merged)
        return choice

    def _move_new_entries(self) -> None:
        """What Codex created in the overlay goes home: new entries, and files it replaced
        whole (an atomic rewrite turns a symlink into a file).  A directory the user already
        has is left to them."""
        for entry in self.path.iterdir():
            if _is_config(entry.name) or entry.is_symlink():
                continue
            target = self.real / entry.name
            if entry.is_dir() and (target.exists() or target.is_symlink()):
                continue
            try:
                shutil.move(str(entry), str(target))
            except OSError:
                continue  # stays in the overlay, which its owner removes; nothing of the user's is lost


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _tables_with_model_keys(document: Any) -> list[tuple[str, ...]]:
    """The root and every profile table: where `/model` writes."""
    paths: list[tuple[str, ...]] = [()]
    profiles = document.get("profiles")
    if isinstance(profiles, dict):
        paths += [("profiles", name) for name, table in profiles.items() if isinstance(table, dict)]
    return paths


def _table(document: Any, path: tuple[str, ...]) -> Any:
    table = document
    for name in path:
        table = table.get(name) if isinstance(table, dict) else None
    return table if isinstance(table, dict) else None


def _restore_model_keys(table: Any, original: Any) -> None:
    for key in MODEL_KEYS:
        if original is not None and key in original:
            table[key] = original[key]
        elif key in table:
            del table[key]


def _model_choice(original: Any, document: Any) -> ModelChoice | None:
    """The model keys Codex changed, from the first table (root, then profiles) it changed them in."""
    for path in _tables_with_model_keys(document):
        before, after = _table(original, path) or {}, _table(document, path) or {}
        changed = {key: after.get(key) for key in MODEL_KEYS if after.get(key) != before.get(key)}
        if changed:
            model, effort = (changed.get(key) for key in MODEL_KEYS)
            return ModelChoice(str(model) if model is not None else None, str(effort) if effort is not None else None)
    return None
