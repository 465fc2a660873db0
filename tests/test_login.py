"""`codexglm login`: key check, region, plan and key type against a mock Z.ai, billing-safe
endpoint mode, 0600 storage, and what it prints (never more than the key's last 4 chars)."""

from __future__ import annotations

import io
import stat
import sys
from pathlib import Path

import pytest
import tomllib
import trio

from codexglm import providers
from codexglm.cli import main, parse_glm_args
from codexglm.cli.login import FREE_PROBE_MODEL, LoginError, describe_glm, inspect_glm
from codexglm.providers.glm import endpoints as glm_endpoints
from codexglm.settings import Settings
from tests.mockglm import MockGLM, open_mock_glm
from tests.test_providers import FAKE

KEY = "zai-login-key-aaaabbbbccccdddd9876"


def _settings(mock: MockGLM) -> Settings:
    return Settings(coding_base_url=mock.coding_url, base_url=mock.general_url)


# (mock key type, has cash) -> (detected type, endpoint mode): the mode never spends cash a
# plan user does not expect, and a pay-as-you-go user gets the path that serves their key.
CASES = [
    ("coding-plan", True, "coding-plan", "coding-only"),
    ("team-plan", True, "team-plan", "coding-only"),
    ("compatible", False, "compatible", "coding-only"),
    ("standard", True, "standard", "base-only"),
    ("compatible-payg", True, "compatible", "base-only"),
]


@pytest.mark.parametrize(("kind", "cash", "detected", "mode"), CASES)
async def test_each_key_type_is_detected_without_spending_anything(kind: str, cash: bool, detected: str, mode: str) -> None:
    async with open_mock_glm(keys={}) as mock:
        mock.add_key(KEY, kind, cash=cash)
        findings = await inspect_glm(_settings(mock), KEY)
        assert not mock.spent_cash and mock.billed == []  # only the free model was asked
        assert {r.json["model"] for r in mock.chat_requests} == {FREE_PROBE_MODEL}
    assert (findings.detection.key_type, findings.detection.endpoint_mode) == (detected, mode)
    assert findings.region == "international"


def test_a_plan_key_that_answers_like_a_compatible_one_says_so() -> None:
    from codexglm.providers.glm.keytypes import detect_key_type

    detection = detect_key_type("pro", True, True)
    assert detection.key_type == "coding-plan" and detection.also_possible == ("compatible",)
    # Whichever it is, the Coding Plan path pays with plan quota.
    assert detection.endpoint_mode == "coding-only"
    assert detect_key_type(None, False, False).key_type == "unknown"


async def test_the_report_says_what_each_path_bills() -> None:
    async with open_mock_glm(keys={}) as mock:
        mock.add_key(KEY, "compatible", cash=True)
        lines = describe_glm(await inspect_glm(_settings(mock), KEY)).lines
    text = "\n".join(lines)
    assert "Personal Coding Plan" in text and "Compatible" in text
    coding = next(line for line in lines if line.startswith("coding:"))
    general = next(line for line in lines if line.startswith("general:"))
    assert "uses plan quota" in coding and "uses plan quota" in general  # as a Coding Plan key
    assert "coding-only" in text and "one person" in text  # Z.ai's usage policy


async def test_compatible_key_report_names_the_cash_path() -> None:
    async with open_mock_glm(keys={}) as mock:
        mock.add_key(KEY, "compatible", cash=False)
        lines = describe_glm(await inspect_glm(_settings(mock), KEY)).lines
    general = next(line for line in lines if line.startswith("general:"))
    assert "refuses it" in general and "spends your cash balance" in general


async def test_the_region_is_found_where_the_key_works(monkeypatch: pytest.MonkeyPatch) -> None:
    async with open_mock_glm(keys={}) as international, open_mock_glm(keys={}) as china:
        china.add_key(KEY, "coding-plan")
        monkeypatch.setitem(glm_endpoints.REGIONS, "international", international.url)
        monkeypatch.setitem(glm_endpoints.REGIONS, "china", china.url)
        findings = await inspect_glm(Settings(), KEY)
    assert findings.region == "china" and findings.detection.key_type == "coding-plan"


async def test_a_key_no_region_takes_is_refused() -> None:
    async with open_mock_glm(keys={}) as mock:
        with pytest.raises(LoginError, match="did not accept this key on any region") as refused:
            await inspect_glm(_settings(mock), KEY)
    assert "GLM 1002" in str(refused.value) and KEY not in str(refused.value)


async def test_no_network_is_not_called_a_bad_key() -> None:
    with pytest.raises(LoginError, match="cannot reach any region"):
        # A closed loopback port: nothing answers.
        await inspect_glm(Settings(coding_base_url="http://127.0.0.1:9/v4", base_url="http://127.0.0.1:9/v4"), KEY,
                          timeout=2)


# --- the command --------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ZAI_API_KEY", "FAKECO_API_KEY", "GLM_ZAI_ENDPOINT_MODE", "GLM_ZAI_KEY_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODEXGLM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CODEXGLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CODEXGLM_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "config"


async def _login(monkeypatch: pytest.MonkeyPatch, stdin: str, *args: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return await trio.to_thread.run_sync(main, ["login", *args])


async def test_login_stores_the_key_and_the_safe_settings(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_mock_glm(keys={}) as mock:
        mock.add_key(KEY, "compatible", cash=False)
        monkeypatch.setenv("ZAI_CODING_BASE_URL", mock.coding_url)
        monkeypatch.setenv("ZAI_BASE_URL", mock.general_url)
        assert await _login(monkeypatch, KEY + "\n") == 0
    out = capsys.readouterr().out
    key_file = cli_env / "api_key"
    assert key_file.read_text().strip() == KEY and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    config = tomllib.loads((cli_env / "config.toml").read_text())
    assert config == {"region": "international", "endpoint_mode": "coding-only", "key_type": "compatible"}
    assert KEY not in out and KEY[-4:] in out and "Compatible" in out


async def test_login_with_a_bad_key_stores_nothing(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with open_mock_glm(keys={}) as mock:
        monkeypatch.setenv("ZAI_CODING_BASE_URL", mock.coding_url)
        monkeypatch.setenv("ZAI_BASE_URL", mock.general_url)
        assert await _login(monkeypatch, KEY) == 1
    err = capsys.readouterr().err
    assert "nothing was stored" in err and err.count("\n") == 1 and KEY not in err
    assert not (cli_env / "api_key").exists()


async def test_login_refuses_a_pool(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert await _login(monkeypatch, f"{KEY},{KEY}x") == 1


async def test_login_for_another_provider_stores_its_own_key(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(providers._BUILT_IN, FAKE.name, FAKE)
    async with open_mock_glm(keys={KEY: {"general"}}) as mock:
        monkeypatch.setenv("FAKECO_BASE_URL", mock.general_url)  # the mock lists models there
        assert await _login(monkeypatch, KEY, "fake") == 0
    key_file = cli_env / "api_key.fake"
    assert key_file.read_text().strip() == KEY and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (cli_env / "api_key").exists() and not (cli_env / "config.toml").exists()


def test_an_unknown_provider_is_a_usage_error(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["login", "nosuch"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_codexs_own_login_is_still_reachable() -> None:
    parsed = parse_glm_args(["--", "login"])
    assert parsed.command is None and parsed.rest == ["login"]
    assert parse_glm_args(["login"]).command is not None


@pytest.mark.parametrize(
    ("key_type", "loopback", "warned"),
    [("coding-plan", False, True), ("unknown", False, True), ("team-plan", False, False), ("standard", False, False),
     ("coding-plan", True, False)],
)
def test_serving_a_personal_plan_beyond_this_machine_is_warned(key_type: str, loopback: bool, warned: bool) -> None:
    from codexglm.cli.login import sharing_warning

    warning = sharing_warning(Settings(key_type=key_type), loopback)
    assert (warning is not None) is warned
    if warning:
        assert "one person" in warning


def _converse(master: int, answer: bytes, deadline: float) -> bytes:
    """Read the terminal until the prompt, type ANSWER, read until the program is done."""
    import os
    import select
    import time

    seen = b""
    typed = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        seen += chunk
        if not typed and b"(input hidden):" in seen:
            os.write(master, answer)
            typed = True
    return seen


async def test_the_key_typed_at_a_terminal_is_not_echoed(tmp_path: Path) -> None:
    import os
    import time

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAI_", "GLM_", "CODEXGLM_"))}
    env.update(CODEXGLM_CONFIG_DIR=str(tmp_path / "config"), CODEXGLM_CACHE_DIR=str(tmp_path / "cache"),
               CODEXGLM_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(root))
    async with open_mock_glm(keys={}) as mock:
        mock.add_key(KEY, "coding-plan")
        env.update(ZAI_CODING_BASE_URL=mock.coding_url, ZAI_BASE_URL=mock.general_url)
        master, slave = os.openpty()
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "codexglm", "login"], stdin=slave, stdout=slave, stderr=slave, env=env
        )
        os.close(slave)
        try:
            seen = await trio.to_thread.run_sync(_converse, master, KEY.encode() + b"\n", time.monotonic() + 30)
            with trio.fail_after(30):
                status = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()  # a hung login must not outlive the test
            os.close(master)
    text = seen.decode(errors="replace")
    assert status == 0, text
    assert "(input hidden):" in text and "Personal Coding Plan" in text
    assert KEY not in text and KEY[-4:] in text  # never echoed, shown as its last 4 characters
    assert (tmp_path / "config" / "api_key").read_text().strip() == KEY


@pytest.mark.parametrize(
    ("key_type", "vision_model", "words"),
    [
        ("standard", "auto", "not described (glm-4.6v would spend your cash balance with this key); "
                             "`codexglm config set vision_model glm-4.6v` turns it on"),
        ("standard", "glm-4.6v", "described by glm-4.6v for text-only models"),
        ("coding-plan", "auto", "described by glm-4.6v for text-only models"),
        ("coding-plan", "off", "not described (vision_model = off)"),
    ],
)
async def test_the_report_says_whether_images_will_be_described(key_type: str, vision_model: str, words: str) -> None:
    async with open_mock_glm(keys={}) as mock:
        mock.add_key(KEY, key_type)
        lines = describe_glm(await inspect_glm(_settings(mock), KEY), vision_model).lines
    assert f"images:        {words}" in lines
