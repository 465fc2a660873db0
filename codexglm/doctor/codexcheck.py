"""Codex checks: the install and its version, the user's Codex config, our model catalog.

The config is judged twice: a lint for the known breakages (with a precise fix each) and
Codex's own verdict, by loading it with `codex debug models` plus the overrides a launch
adds, which catches anything else the installed version refuses.  Neither writes to
CODEX_HOME; the catalog is tried in a private, empty CODEX_HOME so the two verdicts do
not blur into each other.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from ..codex.guard import codex_error
from ..codex.home import PROFILE_SUFFIX, user_codex_home
from ..codex.overrides import codex_overrides
from ..codex.version import (
    INSTALL_COMMAND,
    SUPPORTED_CODEX,
    VERIFIED_CODEX,
    CodexError,
    CodexInfo,
    find_codex,
    format_version,
    verified,
)
from ..config import ConfigError, cache_dir, read_config_file
from ..launcher import ScratchDir, codex_environment
from ..settings import Settings
from .report import Check, Status, ms

RESERVED_PROVIDERS = ("openai", "ollama", "lmstudio")
VERIFIED_INSTALL = f"{INSTALL_COMMAND}@{format_version(VERIFIED_CODEX)}"


codex_home = user_codex_home


# --------------------------------------------------------------------------- install


async def find(env: Mapping[str, str], timeout: float) -> tuple[CodexInfo | None, Check]:
    started = trio.current_time()
    title = "Codex CLI"
    info: CodexInfo | None = None
    with trio.move_on_after(timeout):
        try:
            info = await trio.to_thread.run_sync(find_codex, env, abandon_on_cancel=True)
        except CodexError as exc:
            fix = (
                "Point CODEXGLM_CODEX at the codex executable, or unset it to use the one on PATH."
                if str(exc).startswith("CODEXGLM_CODEX=")
                else f"Install a supported Codex: {INSTALL_COMMAND}"
            )
            return None, Check("codex.install", title, Status.FAIL, str(exc).split("; ")[0], fix, _since(started))
    if info is None:
        return None, Check(
            "codex.install", title, Status.FAIL, f"`codex --version` gave no answer within {timeout:g} s",
            f"Reinstall Codex: {INSTALL_COMMAND}", _since(started),
        )
    message = f"{info.path}, version {format_version(info.version)}"
    if not verified(info):
        return info, Check("codex.install", title, Status.WARN,
                           f"{message}, not yet verified (supported: {SUPPORTED_CODEX}); codexglm runs it, and the "
                           "checks below run through it",
                           f"If something breaks, install the verified version: {VERIFIED_INSTALL}", _since(started))
    return info, Check("codex.install", title, Status.OK, f"{message}, verified (supported: {SUPPORTED_CODEX})", "",
                       _since(started))


def _since(started: float) -> dict[str, float]:
    return {"elapsed_ms": ms(trio.current_time() - started)}


# --------------------------------------------------------------------------- config lint


@dataclass(frozen=True)
class Finding:
    status: Status
    message: str
    fix: str


def lint_config(document: Mapping[str, Any], path: Path) -> list[Finding]:
    """Known ways a Codex config.toml breaks Codex 0.169 or codexglm's provider."""
    findings = _lint_providers(document, path, Status.FAIL) + _lint_left_model(document, path)
    profile = document.get("profile")
    if isinstance(profile, str):
        findings.append(Finding(
            Status.FAIL,
            f'{path.name} sets the legacy `profile = "{profile}"`, which Codex 0.169 refuses to load',
            f"Remove that line; keep the profile's settings in {path.parent / (profile + PROFILE_SUFFIX)} "
            f"and pass `--profile {profile}` when you want it.",
        ))
    profiles = document.get("profiles")
    if isinstance(profiles, dict) and profiles:
        names = ", ".join(f"[profiles.{name}]" for name in profiles)
        findings.append(Finding(
            Status.WARN,
            f"{path.name} has legacy {names}: Codex 0.169 ignores these tables",
            f"Move each into {path.parent}/<name>{PROFILE_SUFFIX} and use `--profile <name>`.",
        ))
    return findings


def lint_profile(document: Mapping[str, Any], path: Path) -> list[Finding]:
    """A `<name>.config.toml` only breaks runs that use `--profile <name>`: warnings."""
    return _lint_providers(document, path, Status.WARN) + _lint_left_model(document, path)


def _provider_models() -> set[str]:
    from ..providers import get_provider, provider_names

    return {model for name in provider_names() for model in get_provider(name).models}


def _lint_left_model(document: Mapping[str, Any], path: Path) -> list[Finding]:
    """A provider's model in the user's own config: `/model` under an earlier codexglm put it
    there, and plain `codex` now asks OpenAI for it."""
    model = document.get("model")
    if not isinstance(model, str) or model not in _provider_models():
        return []
    keys = "`model`" + (" and `model_reasoning_effort` lines" if "model_reasoning_effort" in document else " line")
    return [Finding(
        Status.WARN,
        f'{path.name} sets model = "{model}" (left by /model under an earlier codexglm): plain `codex` would ask '
        "OpenAI for it",
        f"Remove the {keys} from {path}; codexglm keeps its own choice: `codexglm config set default_model {model}`.",
    )]


def _lint_providers(document: Mapping[str, Any], path: Path, severity: Status) -> list[Finding]:
    providers = document.get("model_providers")
    if not isinstance(providers, dict):
        return []
    findings = []
    for name, table in providers.items():
        if name in RESERVED_PROVIDERS:
            findings.append(Finding(
                severity,
                f"{path.name} defines [model_providers.{name}]; `{name}` is a built-in provider id Codex 0.169 refuses",
                f"Rename the table, e.g. [model_providers.{name}-custom], and any `model_provider = \"{name}\"` with it.",
            ))
        if isinstance(table, dict) and table.get("wire_api") == "chat":
            findings.append(Finding(
                severity,
                f'{path.name}: [model_providers.{name}] has wire_api = "chat", which Codex 0.169 refuses '
                "(for every provider, used or not)",
                f'Set wire_api = "responses" in [model_providers.{name}], or delete that table '
                "(codexglm brings its own provider).",
            ))
    return findings


def _read_toml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(document, None), (None, None) when absent, or (None, why it cannot be read)."""
    if not path.is_file():
        return None, None
    try:
        return read_config_file(path), None
    except ConfigError as exc:
        return None, str(exc)
    except ValueError as exc:  # not UTF-8
        return None, f"cannot read {path}: {exc}"


def lint_home(home: Path) -> tuple[list[Finding], bool]:
    """Findings for config.toml and every profile file; the flag says config.toml exists."""
    config = home / "config.toml"
    document, error = _read_toml(config)
    findings: list[Finding] = []
    if error is not None:
        findings.append(Finding(Status.FAIL, error, f"Fix {config} (Codex cannot start with it), or move it aside."))
    elif document is not None:
        findings += lint_config(document, config)
    for profile in sorted(home.glob("*" + PROFILE_SUFFIX)):
        profile_doc, profile_error = _read_toml(profile)
        if profile_error is not None:
            findings.append(Finding(Status.WARN, profile_error, f"Fix it before using `--profile {profile.name.removesuffix(PROFILE_SUFFIX)}`."))
        elif profile_doc is not None:
            findings += lint_profile(profile_doc, profile)
    return findings, document is not None or error is not None


async def config_check(info: CodexInfo | None, settings: Settings, env: Mapping[str, str], timeout: float) -> Check:
    started = trio.current_time()
    home = codex_home(env)
    findings, exists = lint_home(home)
    refusal = None
    if info is not None and not any(f.status is Status.FAIL for f in findings):
        # The user's own environment: Codex finds ~/.codex itself, and refuses a CODEX_HOME
        # that does not exist, which is worth reporting.
        args = codex_overrides(1, settings, catalog=None, model=None)
        refusal = await _codex_refusal(info, args, env, timeout)
    title = "Codex config"
    config = home / "config.toml"
    if refusal is not None:
        findings.append(Finding(
            Status.FAIL, f"Codex cannot load its config: {refusal}",
            f"Fix what Codex names in {config}, or try with a clean one: CODEX_HOME=$(mktemp -d) codexglm",
        ))
    if not findings:
        where = str(config) if exists else f"no {config} (Codex defaults)"
        return Check("codex.config", title, Status.OK, f"{where}: nothing that breaks Codex 0.169 or codexglm", "", _since(started))
    worst = Status.FAIL if any(f.status is Status.FAIL for f in findings) else Status.WARN
    shown = [f for f in findings if f.status is worst]
    message = "; ".join(f.message for f in shown)
    if len(findings) > len(shown):
        message += f" (and {len(findings) - len(shown)} warning{'s' * (len(findings) - len(shown) > 1)})"
    return Check("codex.config", title, worst, message, " ".join(f.fix for f in shown), _since(started))


# --------------------------------------------------------------------------- catalog


async def catalog_check(info: CodexInfo, settings: Settings, env: Mapping[str, str], timeout: float) -> Check:
    from ..codex.catalog import CatalogError, build_catalog

    started = trio.current_time()
    title = "model catalog"
    scratch = ScratchDir()
    try:
        path: Path | None = None
        with trio.move_on_after(timeout):
            try:
                path = await trio.to_thread.run_sync(
                    lambda: build_catalog(info, settings, cache_dir=cache_dir(env), scratch=scratch),
                    abandon_on_cancel=True,
                )
            except CatalogError as exc:
                return Check("codex.catalog", title, Status.FAIL, str(exc), f"Reinstall Codex: {INSTALL_COMMAND}", _since(started))
        if path is None:
            return Check("codex.catalog", title, Status.FAIL, f"building the catalog took over {timeout:g} s",
                         f"Check that `{info.path} debug models --bundled` works.", _since(started))
        with tempfile.TemporaryDirectory(prefix="codexglm-doctor-") as clean_home:
            args = codex_overrides(1, settings, catalog=path, model=None)
            shown = await _codex_models(info, args, {**env, "CODEX_HOME": clean_home}, timeout)
        version = format_version(info.version)
        fix = f"Delete {path} so it is rebuilt; if Codex still refuses it, please report this output."
        if isinstance(shown, str):
            return Check("codex.catalog", title, Status.FAIL, f"Codex {version} refuses the codexglm catalog: {shown}", fix, _since(started))
        if settings.default_model not in shown:
            return Check("codex.catalog", title, Status.FAIL,
                         f"Codex {version} loads the codexglm catalog, but without the default model {settings.default_model}",
                         fix, _since(started))
        return Check("codex.catalog", title, Status.OK,
                     f"{len(shown)} models load in Codex {version} ({path})", "", _since(started))
    finally:
        scratch.remove()


# --------------------------------------------------------------------------- running codex


async def _codex_models(info: CodexInfo, args: list[str], env: Mapping[str, str], timeout: float) -> list[str] | str:
    """The model slugs `codex debug models` shows with ARGS, or why it failed."""
    with trio.move_on_after(timeout):
        try:
            done = await trio.run_process(
                [info.path, *args, "debug", "models"],
                env=codex_environment(env),
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        except OSError as exc:
            return f"cannot run {info.path}: {exc.strerror or exc}"
        if done.returncode != 0:
            return codex_error(done.stderr.decode(errors="replace"), done.returncode)
        try:
            catalog = json.loads(done.stdout)
            return [str(m["slug"]) for m in catalog["models"]]
        except (ValueError, KeyError, TypeError):
            return "`codex debug models` printed no model list"
    return f"`codex debug models` gave no answer within {timeout:g} s"


async def _codex_refusal(info: CodexInfo, args: list[str], env: Mapping[str, str], timeout: float) -> str | None:
    shown = await _codex_models(info, args, env, timeout)
    return shown if isinstance(shown, str) else None
