"""The house rules: a pure, provider-neutral core, data-only providers, and no import circles."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import codexglm

_FORBIDDEN = {"trio", "httpx", "quart", "quart_trio", "hypercorn", "socket", "subprocess", "asyncio", "anyio"}
_PACKAGE = pathlib.Path(codexglm.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(_PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: pathlib.Path) -> list[str]:
    """Every module PATH imports, anywhere in the file, relative imports resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.append(stem)
            # `from . import x` may name a submodule.
            found += [f"{stem}.{alias.name}" for alias in node.names if _is_module(f"{stem}.{alias.name}")]
    return found


def _is_module(name: str) -> bool:
    relative = pathlib.Path(*name.split(".")[1:])
    return (_PACKAGE / relative).with_suffix(".py").is_file() or (_PACKAGE / relative / "__init__.py").is_file()


def _files(subpackage: str) -> list[pathlib.Path]:
    return sorted((_PACKAGE / subpackage).rglob("*.py"))


def test_relative_imports_are_resolved() -> None:
    # The check below must see `from ..settings import Settings` as codexglm.settings.
    assert "codexglm.settings" in imports(_PACKAGE / "codex" / "catalog.py")
    assert "codexglm.providers.base" in imports(_PACKAGE / "translate" / "tools.py")


def test_core_imports_no_io_and_only_the_core_and_providers() -> None:
    for path in _files("translate"):
        for module in imports(path):
            assert module.split(".")[0] not in _FORBIDDEN, f"{path.name} imports {module}"
            if module.startswith("codexglm"):
                assert module.startswith(("codexglm.translate", "codexglm.providers")), (
                    f"translate/{path.name} reaches outside the core: {module}"
                )


def test_providers_are_the_bottom_floor() -> None:
    for path in _files("providers"):
        for module in imports(path):
            assert module.split(".")[0] not in _FORBIDDEN, f"{path} imports {module}"
            if module.startswith("codexglm"):
                assert module.startswith("codexglm.providers"), f"{path} imports {module}"


def test_the_core_never_names_a_provider() -> None:
    # Only what a provider *is* (base): never one of them, nor the registry that lists them.
    for path in _files("translate"):
        for module in imports(path):
            if module.startswith("codexglm.providers"):
                assert module == "codexglm.providers.base", f"{path.name} imports {module}"
        text = path.read_text()
        for fact in ("api.z.ai", "ZAI_", "api.deepseek.com", "moonshot.ai", "minimax.io", "dashscope", "openrouter.ai", "_API_KEY"):
            assert fact not in text, f"{path.name} names a provider's fact: {fact}"


def test_no_import_circles() -> None:
    graph: dict[str, set[str]] = {}
    for path in sorted(_PACKAGE.rglob("*.py")):
        graph[_module_name(path)] = {m for m in imports(path) if m.startswith("codexglm.") and _is_module(m)}
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycle = trail[trail.index(module):] + [module]
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            # A package importing its own submodules is how packages re-export, not a circle.
            if target != module and not target.startswith(module + "."):
                visit(target, [*trail, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_importing_the_core_loads_no_io_library() -> None:
    code = "import sys, codexglm.translate; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % (_FORBIDDEN,)
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_the_launch_path_imports_no_translation_and_no_server() -> None:
    # Codex starts as soon as the launcher has read its settings and catalog; the core, the
    # server and the usage ledger are imported only after that, so they must not ride along earlier.
    code = (
        "import sys, codexglm.cli, codexglm.config, codexglm.launcher, codexglm.codex.catalog; "
        "print(','.join(sorted(m for m in sys.modules if m.startswith(('codexglm.translate', 'codexglm.server', "
        "'codexglm.ledger.store', 'codexglm.ledger.writer')) "
        "or m.split('.')[0] in ('trio', 'httpx', 'quart', 'hypercorn', 'sqlite3'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
