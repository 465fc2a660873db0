"""The translation core must stay pure: no event loop, no HTTP, no server imports."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import codexglm.translate

_FORBIDDEN = {"trio", "httpx", "quart", "quart_trio", "hypercorn", "socket", "subprocess", "asyncio", "anyio"}
_CORE = pathlib.Path(codexglm.translate.__file__).parent


def test_core_source_imports_nothing_forbidden() -> None:
    for path in sorted(_CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in _FORBIDDEN, f"{path.name} imports {module}"
                assert not module.startswith("codexglm") or module.startswith("codexglm.translate"), (
                    f"{path.name} reaches outside the core: {module}"
                )


def test_importing_the_core_loads_no_io_library() -> None:
    code = "import sys, codexglm.translate; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % (_FORBIDDEN,)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
