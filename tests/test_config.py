"""codexglm.config: precedence, sources, validation, key files, comment-preserving edits."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from codexglm import config
from codexglm.config import ConfigError, load_config


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CODEXGLM_CONFIG_DIR": str(tmp_path / "cfg"), "CODEXGLM_STATE_DIR": str(tmp_path / "state")}


def write_config(env: dict[str, str], text: str) -> Path:
    path = Path(env["CODEXGLM_CONFIG_DIR"]) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_and_their_sources(env: dict[str, str]) -> None:
    loaded = load_config(env=env)
    # What the Coding Plan serves (it routes GLM-5.1/5.2 requests to GLM-5.3).
    assert loaded.settings.default_model == "glm-5.3"
    assert loaded.settings.api_keys == ()
    assert loaded.sources["region"] == "default"
    assert loaded.sources["api_keys"] == "unset"
    assert loaded.key_source == "none"
    assert loaded.path == Path(env["CODEXGLM_CONFIG_DIR"]) / "config.toml"
    # Logs go to the (relocatable) state dir.
    assert loaded.settings.log_dir == env["CODEXGLM_STATE_DIR"]


def test_precedence_file_then_env_then_flag(env: dict[str, str]) -> None:
    write_config(env, 'default_model = "glm-5"\nregion = "china"\nendpoint_mode = "auto"\n')
    env["GLM_DEFAULT_MODEL"] = "glm-4.7"
    env["GLM_ZAI_ENDPOINT_MODE"] = "base-only"
    loaded = load_config({"endpoint_mode": "coding-only"}, env=env)
    assert loaded.settings.region == "china"
    assert loaded.sources["region"] == "config file"
    assert loaded.settings.default_model == "glm-4.7"
    assert loaded.sources["default_model"] == "env GLM_DEFAULT_MODEL"
    assert loaded.settings.endpoint_mode == "coding-only"
    assert loaded.sources["endpoint_mode"] == "flag"


def test_environment_variables_map_to_settings(env: dict[str, str]) -> None:
    env.update(
        ZAI_BASE_URL="http://127.0.0.1:9/api/paas/v4",
        ZAI_CODING_BASE_URL="http://127.0.0.1:9/api/coding/paas/v4",
        GLM_MODEL_MAP_JSON='{"gpt-5.5": "glm-5.1"}',
    )
    settings = load_config(env=env).settings
    assert settings.base_url == "http://127.0.0.1:9/api/paas/v4"
    assert settings.coding_base_url == "http://127.0.0.1:9/api/coding/paas/v4"
    assert settings.model_map == {"gpt-5.5": "glm-5.1"}


def test_blank_environment_values_are_ignored(env: dict[str, str]) -> None:
    env["GLM_DEFAULT_MODEL"] = "  "
    assert load_config(env=env).sources["default_model"] == "default"


def test_key_pool_from_env_wins_over_key_file(env: dict[str, str]) -> None:
    key_file = Path(env["CODEXGLM_CONFIG_DIR"]) / "api_key"
    config.store_api_key(key_file, "file-key-00000001")
    env["ZAI_API_KEY"] = " env-key-000000001 , env-key-000000002,,"
    loaded = load_config(env=env)
    assert loaded.settings.api_keys == ("env-key-000000001", "env-key-000000002")
    assert loaded.sources["api_keys"] == "env ZAI_API_KEY"
    assert loaded.key_source == "env ZAI_API_KEY (2 keys)"


def test_key_file_is_0600_and_read_when_env_is_unset(env: dict[str, str]) -> None:
    key_file = Path(env["CODEXGLM_CONFIG_DIR"]) / "api_key"
    assert config.store_api_key(key_file, "first-key-0000001\nsecond-key-000002\n") == (
        "first-key-0000001",
        "second-key-000002",
    )
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    loaded = load_config(env=env)
    assert loaded.settings.api_keys == ("first-key-0000001", "second-key-000002")
    assert loaded.sources["api_keys"] == "key file"
    assert loaded.warnings == ()
    # The description names the file, never a key.
    assert "first-key" not in loaded.key_source and str(key_file) in loaded.key_source


def test_overwriting_a_loose_key_file_makes_it_private(env: dict[str, str]) -> None:
    key_file = Path(env["CODEXGLM_CONFIG_DIR"]) / "api_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("old-key-000000001")
    key_file.chmod(0o644)
    assert any("readable by other users" in w for w in load_config(env=env).warnings)
    config.store_api_key(key_file, "new-key-000000001")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_config(env=env).warnings == ()


def test_key_file_location_comes_from_config(env: dict[str, str], tmp_path: Path) -> None:
    elsewhere = tmp_path / "secrets" / "zai"
    config.store_api_key(elsewhere, "stored-key-000001")
    write_config(env, f'key_file = "{elsewhere}"\n')
    loaded = load_config(env=env)
    assert loaded.key_file == elsewhere
    assert loaded.settings.api_keys == ("stored-key-000001",)


def test_no_key_is_not_an_error_at_load_time(env: dict[str, str]) -> None:
    assert load_config(env=env).settings.api_keys == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('region = "mars"\n', "region must be one of"),
        ('endpoint_mode = "sometimes"\n', "endpoint_mode must be one of"),
        ("max_attempts = -1\n", "must not be negative"),
        ("max_attempts = 2.5\n", "must be an integer"),
        ('log_bodies = "maybe"\n', "must be true or false"),
        ("[model_map]\nfoo = 3\n", "model_map must map"),
        ('api_key = "sk-secret-value"\n', "do not store the API key"),
        ("region = \n", "not valid TOML"),
    ],
)
def test_invalid_config_file_is_one_clear_error(env: dict[str, str], text: str, message: str) -> None:
    path = write_config(env, text)
    with pytest.raises(ConfigError) as caught:
        load_config(env=env)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "sk-secret-value" not in str(caught.value)


def test_an_unknown_key_is_a_warning_naming_file_and_line(env: dict[str, str]) -> None:
    path = write_config(env, '# mine\nregion = "china"\nregoin = "china"\n')
    loaded = load_config(env=env)
    assert loaded.settings.region == "china"  # the rest of the file still counts
    [warning] = [w for w in loaded.warnings if "regoin" in w]
    assert warning.startswith(f"{path}:3: unknown setting 'regoin' ignored")


def test_a_bad_value_names_file_line_and_key(env: dict[str, str]) -> None:
    path = write_config(env, '\nmax_attempts = -1\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:2: max_attempts: "):
        load_config(env=env)


@pytest.mark.parametrize("url", ["api.z.ai/api/paas/v4", "ftp://api.z.ai", "https://", "localhost:8080/v4"])
def test_a_base_url_needs_scheme_and_host(env: dict[str, str], url: str) -> None:
    path = Path(env["CODEXGLM_CONFIG_DIR"]) / "config.toml"
    with pytest.raises(ConfigError, match="base_url must be a full URL starting with https://"):
        config.set_value(path, "base_url", url)
    assert not path.exists()
    env["ZAI_CODING_BASE_URL"] = url
    with pytest.raises(ConfigError, match=r"\$ZAI_CODING_BASE_URL: coding_base_url must be a full URL"):
        load_config(env=env)


def test_invalid_environment_value_names_the_variable(env: dict[str, str]) -> None:
    env["GLM_MODEL_MAP_JSON"] = "{not json"
    with pytest.raises(ConfigError, match=r"\$GLM_MODEL_MAP_JSON"):
        load_config(env=env)


def test_flags_must_be_settings(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config({"key_file": "/tmp/x"}, env=env)


def test_coerce_types() -> None:
    assert config.coerce("log_bodies", "yes") is True
    assert config.coerce("log_bodies", "off") is False
    assert config.coerce("read_timeout", "12.5") == 12.5
    assert config.coerce("max_attempts", "3") == 3
    assert config.coerce("model_map", '{"a": " glm-5 "}') == {"a": "glm-5"}
    assert config.coerce("log_dir", " /var/log/x ") == "/var/log/x"


def test_set_value_preserves_comments_and_layout(env: dict[str, str]) -> None:
    original = '# my codexglm settings\nregion = "china"  # where I live\n\n[model_map]\n# keep this\n"gpt-5.5" = "glm-5"\n'
    path = write_config(env, original)
    assert config.set_value(path, "default_model", "glm-4.7") == "glm-4.7"
    assert config.set_value(path, "log_bodies", "true") is True
    assert config.set_value(path, "model_map.o3", "glm-5.1") == "glm-5.1"
    text = path.read_text()
    assert "# my codexglm settings" in text and "# where I live" in text and "# keep this" in text
    settings = load_config(env=env).settings
    assert settings.default_model == "glm-4.7"
    assert settings.log_bodies is True
    assert settings.model_map == {"gpt-5.5": "glm-5", "o3": "glm-5.1"}


def test_set_value_creates_the_file_and_validates(env: dict[str, str]) -> None:
    path = Path(env["CODEXGLM_CONFIG_DIR"]) / "config.toml"
    config.set_value(path, "model_map", '{"gpt-5": "glm-5.1"}')
    assert load_config(env=env).settings.model_map == {"gpt-5": "glm-5.1"}
    with pytest.raises(ConfigError, match="region must be one of"):
        config.set_value(path, "region", "mars")
    with pytest.raises(ConfigError, match="only model_map"):
        config.set_value(path, "region.x", "china")
    assert "mars" not in path.read_text()


def test_set_value_keeps_the_file_mode(env: dict[str, str]) -> None:
    path = write_config(env, 'region = "china"\n')
    path.chmod(0o600)
    config.set_value(path, "region", "international")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unset_value(env: dict[str, str]) -> None:
    path = write_config(env, '# keep\nregion = "china"\n[model_map]\na = "glm-5"\nb = "glm-5.1"\n')
    assert config.unset_value(path, "region") is True
    assert config.unset_value(path, "region") is False
    assert config.unset_value(path, "model_map.a") is True
    assert config.unset_value(path, "model_map.zzz") is False
    assert "# keep" in path.read_text()
    loaded = load_config(env=env)
    assert loaded.sources["region"] == "default"
    assert loaded.settings.model_map == {"b": "glm-5.1"}
    with pytest.raises(ConfigError, match="unknown setting"):
        config.unset_value(path, "nonsense")


def test_remove_api_key(env: dict[str, str]) -> None:
    key_file = Path(env["CODEXGLM_CONFIG_DIR"]) / "api_key"
    config.store_api_key(key_file, "some-key-00000001")
    assert config.remove_api_key(key_file) is True
    assert config.remove_api_key(key_file) is False
    with pytest.raises(ConfigError, match="no API key"):
        config.store_api_key(key_file, " , ")


def test_format_value_masks_keys() -> None:
    from codexglm.settings import Settings

    settings = Settings(api_keys=("abcdefghijkl1234",), model_map={"b": "y", "a": "x"}, log_dir=None)
    assert config.format_value("api_keys", settings) == "****1234"
    assert config.format_value("model_map", settings) == '{"a": "x", "b": "y"}'
    assert config.format_value("log_dir", settings) == "(built-in)"
    assert config.format_value("web_search", settings) == "false"


def test_platform_dirs_are_used_without_overrides() -> None:
    assert config.config_dir({}).name == "codexglm"
    assert config.cache_dir({}).name == "codexglm"
    assert config.cache_dir({"CODEXGLM_CACHE_DIR": "/x/y"}) == Path("/x/y")


def test_paths_expand_the_home_directory() -> None:
    assert config.coerce("log_dir", "~/codexglm-logs") == os.path.expanduser("~/codexglm-logs")
    assert config.coerce("key_file", "~/.zai-key") == os.path.expanduser("~/.zai-key")


def test_log_dir_from_the_state_dir_variable_says_so(tmp_path: Path) -> None:
    loaded = load_config(env={"CODEXGLM_CONFIG_DIR": str(tmp_path), "CODEXGLM_STATE_DIR": str(tmp_path / "state")})
    assert loaded.settings.log_dir == str(tmp_path / "state")
    assert loaded.sources["log_dir"] == "env CODEXGLM_STATE_DIR"


def test_key_type_and_paid_fallback_are_settings_checked_when_set(env: dict[str, str]) -> None:
    assert load_config(env=env).settings.key_type == "unknown" and load_config(env=env).settings.paid_fallback is False
    write_config(env, 'key_type = "compatible"\npaid_fallback = true\n')
    loaded = load_config(env=env)
    assert (loaded.settings.key_type, loaded.settings.paid_fallback) == ("compatible", True)
    assert loaded.sources["key_type"] == "config file"
    from_env = load_config(env={**env, "GLM_ZAI_KEY_TYPE": "team-plan", "GLM_PAID_FALLBACK": "0"})
    assert (from_env.settings.key_type, from_env.settings.paid_fallback) == ("team-plan", False)
    write_config(env, 'key_type = "gold"\n')
    with pytest.raises(ConfigError, match="key_type must be one of standard, coding-plan, team-plan, compatible, unknown"):
        load_config(env=env)


def test_an_unknown_model_in_the_config_is_named_with_file_and_line(env: dict[str, str]) -> None:
    path = write_config(env, 'region = "china"\ndefault_model = "glm-9"\n')
    loaded = load_config(env=env)
    assert loaded.settings.default_model == "glm-9"  # sent as given: it may be newer than our table
    [note] = [w for w in loaded.warnings if "glm-9" in w]
    assert note.startswith(f"{path}:2: default_model = 'glm-9' is not a Z.ai model") and "glm-5.1" in note
    env["GLM_DEFAULT_MODEL"] = "glm-8"
    assert any(w.startswith("env GLM_DEFAULT_MODEL: default_model = 'glm-8'") for w in load_config(env=env).warnings)
    write_config(env, 'default_model = "glm-4.7"\n')
    env.pop("GLM_DEFAULT_MODEL")
    assert not [w for w in load_config(env=env).warnings if "default_model" in w]
