"""Shell completions: in sync with the CLI, valid, and working in bash, zsh and fish.

Codex's own completion is replaced by a stub that reports what it was asked, so the tests
check that codexglm's words are stripped before codex's completion runs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from codexglm.cli import COMMANDS, GLM_OPTIONS, main
from codexglm.cli.completions import completion_script, value_words
from codexglm.config import CONFIG_KEYS
from codexglm.providers.glm.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
FILES = {"bash": "codexglm.bash", "zsh": "_codexglm", "fish": "codexglm.fish"}


@pytest.mark.parametrize("shell", FILES)
def test_checked_in_scripts_are_current(shell: str) -> None:
    path = ROOT / "completions" / FILES[shell]
    assert path.read_text() == completion_script(shell), f"regenerate: codexglm completion {shell} > {path}"


@pytest.mark.parametrize("shell", FILES)
def test_scripts_know_every_command_option_and_value(shell: str) -> None:
    script = completion_script(shell)
    for command in COMMANDS:
        assert command.name in script
        for option in command.options:
            assert option.flag in script or option.flag[2:] in script
        for action in command.actions:
            assert action.name in script
    for option in GLM_OPTIONS:
        assert option.flag in script or option.flag[2:] in script  # fish spells long options without --
    for word in (*MODELS, *CONFIG_KEYS):
        assert word in script


@pytest.mark.parametrize("shell", FILES)
def test_completion_command_prints_the_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    assert capsys.readouterr().out == completion_script(shell)


def run_shell(argv: list[str], script: str, tmp_path: Path) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed")
    path = tmp_path / "test.sh"
    path.write_text(script)
    done = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(("shell", "check"), [("bash", ["bash", "-n"]), ("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])])
def test_scripts_parse(shell: str, check: list[str], tmp_path: Path) -> None:
    run_shell(check, completion_script(shell), tmp_path)


# Each case: the words typed (the last one is being completed) -> what must be offered.
CASES = [
    (["codexglm", "co"], ["config", "completion", "codex:co"]),
    (["codexglm", "--glm-m"], ["--glm-model"]),
    (["codexglm", "--glm-model", ""], list(MODELS)),
    (["codexglm", "--glm-region", "ch"], ["china"]),
    (["codexglm", "config", ""], ["show", "set", "unset", "path"]),
    (["codexglm", "config", "set", "default_m"], ["default_model"]),
    (["codexglm", "completion", ""], ["bash", "zsh", "fish"]),
    (["codexglm", "serve", "--p"], ["--port"]),
    (["codexglm", "--glm-model", "glm-5", "exec", "--sk"], ["codex:exec --sk"]),
    (["codexglm", "--glm-region", "china", "--", "doc"], ["codex:doc"]),
    (["codexglm", "exec", "--", "--glm-x"], ["codex:exec -- --glm-x"]),
]


def bash_case(words: list[str]) -> str:
    quoted = " ".join(f"'{w}'" for w in words)
    return f"t {quoted}\n"


def test_bash_completes(tmp_path: Path) -> None:
    stub = '_codex() { local w=("${COMP_WORDS[@]:1}"); COMPREPLY=("codex:${w[*]}"); }\n'
    driver = (
        't() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _codexglm codexglm; '
        'printf "%s\\t" "${COMPREPLY[@]}"; echo; }\n'
    )
    out = run_shell(["bash"], completion_script("bash") + stub + driver + "".join(bash_case(w) for w, _ in CASES), tmp_path)
    for (words, wanted), line in zip(CASES, out.splitlines(), strict=True):
        offered = line.rstrip("\t").split("\t")
        assert all(item in offered for item in wanted), (words, offered)


def test_zsh_completes(tmp_path: Path) -> None:
    stubs = (
        "compdef() { :; }\n"
        '_describe() { local name=$4; local item; for item in "${(@P)name}"; do print -rn -- "${item%%:*}\t"; done; }\n'
        'compadd() { shift; print -rn -- "${(j:\t:)@}\t"; }\n'
        "_message() { :; }\n"
        "_directories() { :; }\n"
        '_codex() { print -rn -- "codex:${words[2,CURRENT]}\t"; }\n'
        't() { words=("$@"); CURRENT=$#; PREFIX=${words[CURRENT]}; _codexglm; print; }\n'
    )
    cases = "".join("t " + " ".join(f"'{w}'" for w in words) + "\n" for words, _ in CASES)
    out = run_shell(["zsh", "-f"], completion_script("zsh") + stubs + cases, tmp_path)
    for (words, wanted), line in zip(CASES, out.splitlines(), strict=True):
        offered = line.rstrip("\t").split("\t")
        prefix = words[-1]
        assert all(item in offered for item in wanted if item.startswith(prefix) or item.startswith("codex:")), (words, offered)


def test_fish_completes(tmp_path: Path) -> None:
    # A stand-in for codex's own fish completion that reports the line it completes.  fish
    # only offers candidates starting with the current word, so the report starts with it.
    stub = (
        "function __stub_codex\n"
        "    set -l words (commandline -opc)\n"
        "    set -e words[1]\n"
        "    echo (commandline -ct)'='codex:(string join ' ' -- $words (commandline -ct))\n"
        "end\n"
        "complete -c codex -f -a '(__stub_codex)'\n"
    )
    cases = "".join(
        "echo (complete -C '" + " ".join(words) + "' | string replace -r '\\t.*' '' | string join '|')\n" for words, _ in CASES
    )
    out = run_shell(["fish", "-N"], completion_script("fish") + stub + cases, tmp_path)
    for (words, wanted), line in zip(CASES, out.splitlines(), strict=True):
        offered = line.split("|")
        expected = [f"{words[-1]}={item}" if item.startswith("codex:") else item for item in wanted]
        assert all(item in offered for item in expected), (words, offered)


def test_value_sources_cover_every_option() -> None:
    sources = set(value_words()) | {"dir", ""}
    for option in GLM_OPTIONS:
        assert option.complete in sources
    for command in COMMANDS:
        for option in command.options:
            assert option.complete in sources
        for _, source in command.arguments:
            assert source in sources
        for action in command.actions:
            for _, source in action.arguments:
                assert source in sources
