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

import os
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
# Created up front in the real home and linked, so what Codex keeps there is the user's from
# the first launch on (and a killed launch keeps its sessions): Codex names skills by path in
# the model's context, which must not change between a session and its resume.
SHARED_DIRS = ("sessions", "skills", "shell_snapshots")


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
    """codexglm's CODEX_HOME, `path`, shared by its launches (see the module docstring).

    It stays where it is between launches: Codex records each session's rollout under the
    CODEX_HOME it ran with, so `codexglm resume` needs the same path next time.  Launches
    running at the same time share it; the first of them refreshes the config copies."""

    def __init__(self, real: Path, path: Path) -> None:
        self.real = real
        self.path = path
        self._pid_file = _users_dir(path) / str(os.getpid())
        # Config files as this launch's Codex found them, and the user's as they were then.
        self._started: dict[str, str | None] = {}
        self._users: dict[str, str | None] = {}

    @classmethod
    def open(cls, real: Path, path: Path) -> CodexHomeOverlay:
        """Bring the overlay at PATH up to date with the user's home REAL and join it."""
        real.mkdir(parents=True, exist_ok=True)
        for name in SHARED_DIRS:
            (real / name).mkdir(exist_ok=True)
        path.mkdir(parents=True, exist_ok=True)
        overlay = cls(real, path)
        alone = not _live_users(_users_dir(path))
        overlay._pid_file.parent.mkdir(exist_ok=True)
        overlay._pid_file.touch()
        for entry in real.iterdir():
            mine = path / entry.name
            if _is_config(entry.name):
                if alone or not mine.exists():
                    _copy_text(entry, mine)
            elif not mine.exists() and not mine.is_symlink():
                mine.symlink_to(entry)
        if alone:  # a config file the user removed is gone for Codex too
            for entry in path.iterdir():
                if _is_config(entry.name) and not (real / entry.name).exists():
                    entry.unlink()
        for entry in path.iterdir():
            if _is_config(entry.name):
                overlay._started[entry.name] = _read(entry)
                overlay._users[entry.name] = _read(real / entry.name)
        return overlay

    def carry_back(self) -> ModelChoice | None:
        """Put what Codex wrote where it belongs; the model choice it persisted, if any."""
        self._pid_file.unlink(missing_ok=True)
        if not _live_users(self._pid_file.parent):
            self._move_new_entries()  # no other Codex has them open
        choice = None
        for entry in sorted(self.path.iterdir()):
            if _is_config(entry.name) and not entry.is_symlink():
                choice = self._carry_config(entry.name) or choice
        return choice

    def _carry_config(self, name: str) -> ModelChoice | None:
        """One config file: its model keys are the choice; its other edits go to the user's."""
        started = self._started.get(name)
        written = _read(self.path / name)
        if written is None or written == started:
            return None
        import tomlkit

        from ..config import write_atomic

        user_text = self._users.get(name)
        users = tomlkit.parse(user_text or "")
        document = tomlkit.parse(written)
        choice = _model_choice(tomlkit.parse(started or ""), document)
        for table_path in _tables_with_model_keys(document):
            _restore_model_keys(_table(document, table_path), _table(users, table_path))
        merged = tomlkit.dumps(document)
        write_atomic(self.path / name, merged)  # the next launch starts without the choice in it
        unchanged = _read(self.real / name) == user_text
        if unchanged and merged != (user_text or "") and (user_text is not None or merged.strip()):
            # Only when the user did not edit their file meanwhile: theirs wins.  Written
            # through a symlink (dotfile managers link config.toml), never over it.
            write_atomic((self.real / name).resolve(), merged)
        return choice

    def _move_new_entries(self) -> None:
        """What Codex created in the overlay goes home and is linked back: new entries, and
        files it replaced whole (an atomic rewrite turns a symlink into a file).  A directory
        the user already has is left to them."""
        for entry in self.path.iterdir():
            if _is_config(entry.name) or entry.is_symlink() or entry.name == _USERS:
                continue
            target = self.real / entry.name
            if entry.is_dir() and (target.exists() or target.is_symlink()):
                continue
            try:
                shutil.move(str(entry), str(target))
                entry.symlink_to(target)
            except OSError:
                continue  # it stays in the overlay; nothing of the user's is lost


_USERS = ".codexglm-launches"


def _users_dir(path: Path) -> Path:
    return path / _USERS


def _live_users(users: Path) -> list[int]:
    """Launches using the overlay now (pid files of dead ones are removed)."""
    live = []
    for pid_file in users.glob("*") if users.is_dir() else ():
        pid = int(pid_file.name) if pid_file.name.isdigit() else 0
        if pid and pid != os.getpid() and pid_alive(pid):
            live.append(pid)
        elif pid != os.getpid():
            pid_file.unlink(missing_ok=True)
    return live


def pid_alive(pid: int) -> bool:
    """Is process PID running (possibly as another user)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _copy_text(source: Path, target: Path) -> None:
    text = _read(source)
    if text is not None:
        target.unlink(missing_ok=True)  # a symlink left by an older layout must not be written through
        target.write_text(text, encoding="utf-8")


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
