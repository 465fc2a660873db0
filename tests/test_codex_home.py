"""The overlay CODEX_HOME: Codex shares the user's home except config.toml, whose `/model`
keys become codexglm's and whose other edits go back to the user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomlkit

from codexglm.codex.home import CodexHomeOverlay, ModelChoice, user_codex_home

USER = '# mine\napproval_policy = "on-request"\nmodel = "o3"\n\n[profiles.work]\nmodel = "gpt-5"\n'


@pytest.fixture
def real(tmp_path: Path) -> Path:
    home = tmp_path / "codex"
    (home / "sessions").mkdir(parents=True)
    (home / "history.jsonl").write_text("old\n")
    (home / "config.toml").write_text(USER)
    return home


def overlay(real: Path, tmp_path: Path) -> CodexHomeOverlay:
    return CodexHomeOverlay.open(real, tmp_path / "state" / "codex-home")


def test_codex_home_follows_codex_rule() -> None:
    assert user_codex_home({"CODEX_HOME": "/x/y", "HOME": "/h"}) == Path("/x/y")
    assert user_codex_home({"HOME": "/h"}) == Path("/h/.codex")


def test_everything_but_the_config_is_the_users_own(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    assert (home.path / "sessions").resolve() == (real / "sessions").resolve()
    with open(home.path / "history.jsonl", "a") as history:
        history.write("new\n")
    assert (real / "history.jsonl").read_text() == "old\nnew\n"
    config = home.path / "config.toml"
    assert not config.is_symlink() and config.read_text() == USER


def test_model_keys_become_the_choice_and_other_edits_go_back(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    document = tomlkit.parse(USER)
    document["model"] = "glm-5"
    document["model_reasoning_effort"] = "high"
    document["projects"] = {"/work": {"trust_level": "trusted"}}
    (home.path / "config.toml").write_text(tomlkit.dumps(document))
    assert home.carry_back() == ModelChoice("glm-5", "high")
    back = tomlkit.parse((real / "config.toml").read_text())
    assert back["model"] == "o3" and "model_reasoning_effort" not in back
    assert back["projects"]["/work"]["trust_level"] == "trusted"
    assert (real / "config.toml").read_text().startswith("# mine\n")


def test_a_profile_choice_is_taken_from_the_profile(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    document = tomlkit.parse(USER)
    document["profiles"]["work"]["model"] = "glm-4.7"
    (home.path / "config.toml").write_text(tomlkit.dumps(document))
    assert home.carry_back() == ModelChoice("glm-4.7", None)
    assert (real / "config.toml").read_text() == USER


def test_an_unchanged_config_changes_nothing(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    before = (real / "config.toml").stat().st_mtime_ns
    assert home.carry_back() is None
    assert (real / "config.toml").stat().st_mtime_ns == before


def test_the_users_edit_during_the_session_wins(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    (home.path / "config.toml").write_text(USER + 'model_reasoning_effort = "low"\n[tui]\nx = 1\n')
    (real / "config.toml").write_text(USER + "# edited meanwhile\n")
    assert home.carry_back() == ModelChoice(None, "low")
    assert (real / "config.toml").read_text() == USER + "# edited meanwhile\n"


def test_without_a_user_config_the_choice_is_still_taken(tmp_path: Path) -> None:
    real = tmp_path / "fresh"
    home = overlay(real, tmp_path)
    assert (real / "sessions").is_dir()  # made up front: a killed launch keeps its sessions
    (home.path / "config.toml").write_text('model = "glm-5.1"\n')
    assert home.carry_back() == ModelChoice("glm-5.1", None)
    assert not (real / "config.toml").exists()


def test_what_codex_created_or_replaced_goes_home(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    (home.path / "state_5.sqlite").write_bytes(b"db")
    (home.path / "log").mkdir()
    (home.path / "log" / "codex.log").write_text("line")
    (home.path / "history.jsonl").unlink()  # an atomic rewrite: the symlink becomes a file
    (home.path / "history.jsonl").write_text("rewritten\n")
    home.carry_back()
    assert (real / "state_5.sqlite").read_bytes() == b"db"
    assert (real / "log" / "codex.log").read_text() == "line"
    assert (real / "history.jsonl").read_text() == "rewritten\n"


def test_removing_the_overlay_leaves_the_users_home_alone(real: Path, tmp_path: Path) -> None:
    import shutil

    home = overlay(real, tmp_path)
    shutil.rmtree(home.path)
    assert (real / "history.jsonl").read_text() == "old\n" and (real / "sessions").is_dir()
    assert (real / "config.toml").read_text() == USER


def test_a_profile_file_is_a_copy_and_its_model_keys_are_the_choice(real: Path, tmp_path: Path) -> None:
    (real / "work.config.toml").write_text('model = "gpt-5"\n')
    home = overlay(real, tmp_path)
    assert not (home.path / "work.config.toml").is_symlink()
    (home.path / "work.config.toml").unlink()  # Codex rewrites it atomically
    (home.path / "work.config.toml").write_text('model = "glm-4.7"\nmodel_reasoning_effort = "none"\n')
    assert home.carry_back() == ModelChoice("glm-4.7", "none")
    assert (real / "work.config.toml").read_text() == 'model = "gpt-5"\n'


def test_a_new_profile_file_never_reaches_the_users_home(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    (home.path / "glm.config.toml").write_text('model = "glm-5"\n')
    assert home.carry_back() == ModelChoice("glm-5", None)
    assert not (real / "glm.config.toml").exists()


def test_the_overlay_stays_put_so_recorded_session_paths_resolve(real: Path, tmp_path: Path) -> None:
    first = overlay(real, tmp_path)
    rollout = first.path / "sessions" / "rollout-1.jsonl"  # the path Codex records
    rollout.write_text("{}\n")
    first.carry_back()
    second = overlay(real, tmp_path)
    assert second.path == first.path and rollout.read_text() == "{}\n"
    assert (real / "sessions" / "rollout-1.jsonl").exists()


def test_a_launch_alone_refreshes_the_copies_and_one_beside_another_does_not(
    real: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = overlay(real, tmp_path)
    first.carry_back()
    (real / "config.toml").write_text(USER + "# edited\n")
    assert (overlay(real, tmp_path).path / "config.toml").read_text() == USER + "# edited\n"
    # Another launch still running (this test's parent process stands in for it).
    (tmp_path / "state" / "codex-home" / ".codexglm-launches" / str(os.getppid())).touch()
    (real / "config.toml").write_text(USER)
    assert (overlay(real, tmp_path).path / "config.toml").read_text() == USER + "# edited\n"


def test_the_choice_is_taken_out_of_the_overlay_for_the_next_launch(real: Path, tmp_path: Path) -> None:
    home = overlay(real, tmp_path)
    (home.path / "config.toml").write_text(USER + 'model_reasoning_effort = "high"\n')
    assert home.carry_back() == ModelChoice(None, "high")
    assert "model_reasoning_effort" not in (home.path / "config.toml").read_text()


def test_a_symlinked_user_config_is_written_through_not_replaced(real: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "codex.toml"
    dotfiles.parent.mkdir()
    dotfiles.write_text(USER)
    (real / "config.toml").unlink()
    (real / "config.toml").symlink_to(dotfiles)
    home = overlay(real, tmp_path)
    (home.path / "config.toml").write_text(USER.replace('"o3"', '"glm-5"') + "[tui]\nx = 1\n")
    assert home.carry_back() == ModelChoice("glm-5", None)
    assert (real / "config.toml").is_symlink()
    assert "[tui]" in dotfiles.read_text() and 'model = "o3"' in dotfiles.read_text()
