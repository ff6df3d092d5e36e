"""The shape of the code, as docs/architecture.md describes it: checked, so it stays true.

- bot/ (the core) imports no chat SDK; storage/ imports nothing of bot/ or handlers/;
- no two modules import each other, however indirectly, when they load;
- the Slack and Teams adapters hold no case rule (permissions, statuses, the core's private helpers);
- every module bot/wiring.py names exists and registers something, and our own modules are never
  imported behind a silent `ModuleNotFoundError`;
- no source file outside tests/ and bench/ is longer than 500 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "storage", "standins")
MAX_LINES = 500


def sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py")
                  if "migrations" not in p.parts and "node_modules" not in p.parts)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def load_time_imports(path: Path) -> set[str]:
    """The modules `path` imports when it is loaded: top level, outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    pkg = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)

    visit(tree.body)
    return found


def test_the_core_never_imports_a_chat_sdk_and_storage_stands_alone():
    for path in sources("bot"):
        bad = {m for m in load_time_imports(path) if m.startswith(("slack_", "botbuilder", "handlers"))}
        text = path.read_text()
        lazy = re.findall(r"^\s+(?:from|import) (slack_\w+|botbuilder\w*|handlers)\b", text, re.M)
        assert not bad and not lazy, f"{path.relative_to(ROOT)} imports {sorted(bad) or lazy}"
    for path in sources("storage"):
        bad = {m for m in load_time_imports(path) if m.startswith(("bot", "handlers"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_two_modules_import_each_other_when_they_load():
    ours = {module_name(p): p for p in sources(*PACKAGES)}
    graph: dict[str, set[str]] = {}
    for name, path in ours.items():
        imported = {m for m in load_time_imports(path) if m in ours and m != name}
        # `from pkg import module` depends on the module, not on whatever pkg/__init__.py gathers.
        graph[name] = {m for m in imported if not any(o.startswith(m + ".") for o in imported)}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_chat_adapters_hold_no_case_rule():
    rule = re.compile(r"manages_team|owner_id|_require_|== \"resolved\"|\bcases\._\w+")
    for path in sources("handlers/slack", "handlers/teams"):
        hits = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1) if rule.search(line)]
        assert not hits, f"{path.relative_to(ROOT)}:\n" + "\n".join(hits)


def test_every_module_the_wiring_names_registers_something():
    import importlib

    from bot import wiring
    from bot.chat import interactions
    from bot.console import registry
    from bot.intake import hooks
    from bot.machinery import schedule

    wiring.load()
    for name in wiring.MODULES:
        importlib.import_module(name)
    commands = {c.run.__module__ for c in registry.REGISTRY.values()}
    actions = {fn.__module__ for fn in interactions._ACTIONS.values()} | \
              {apply.__module__ for _, apply in interactions._FORMS.values()}
    jobs = {j.run.__module__ for j in schedule.JOBS}
    hooked = {h.__module__ for h in hooks.hooks()}
    assert set(wiring.COMMANDS) == commands
    assert set(wiring.ACTIONS) == actions
    assert set(wiring.DUE_JOBS) == jobs
    assert set(wiring.RESPONSE_HOOKS) == hooked


def test_our_own_modules_are_never_imported_behind_a_silent_guard():
    for path in sources(*PACKAGES):
        text = path.read_text()
        assert "ModuleNotFoundError" not in text and "importorskip" not in text, path.relative_to(ROOT)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_source_file_is_longer_than_500_lines(package):
    long = {str(p.relative_to(ROOT)): n for p in sources(package)
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long
