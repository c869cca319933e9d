"""Imports run one way: upcasters <- orders <- projections <- console, none of them into the
demo or the emulator, and the domain code imports no I/O.

Read from the source with `ast` (nothing is imported), so a violation names the file and
the import.
"""

from __future__ import annotations

import ast
from collections.abc import Set
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_MODULES = {"esdbclient", "grpc", "sqlite3", "socket", "subprocess", "urllib", "httpx"}
PURE = [
    "orders/decider.py",
    "orders/events.py",
    "orders/commands.py",
    "orders/values.py",
    "orders/codec.py",
    "upcasters",
    "projections/read_models/projection.py",
    "projections/read_models/order_summary.py",
    "projections/read_models/customer_stats.py",
    "projections/read_models/daily_sales.py",
    "projections/read_models/order_timeline.py",
]


def imports(path: Path) -> set[str]:
    """The absolute module names `path` imports (module level and inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def files(target: str, root: Path) -> list[Path]:
    path = root / target
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def offenders(
    target: str, forbidden: Set[str], allowed: Set[str] = frozenset(), root: Path = ROOT
) -> list[str]:
    """`file: module` for each import of `target` inside a forbidden package."""
    found = []
    for path in files(target, root):
        for module in sorted(imports(path)):
            top = {module.split(".")[0], *(p for p in forbidden if module.startswith(p + "."))}
            if top & forbidden and not any(
                module == a or module.startswith(a + ".") for a in allowed
            ):
                found.append(f"{path.relative_to(root)}: {module}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden", "allowed"),
    [
        ("upcasters", {"orders", "projections", "console", "demo", "esdb_emulator"}, set()),
        ("orders", {"projections", "console", "demo", "esdb_emulator"}, set()),
        # The read side uses the write side's public pieces and the shared CLI module only.
        ("projections", {"console", "demo", "esdb_emulator", "orders.cli"}, {"orders.cli.common"}),
        ("console", {"demo", "esdb_emulator"}, set()),
    ],
)
def test_packages_import_one_way(package: str, forbidden: set[str], allowed: set[str]) -> None:
    assert offenders(package, forbidden, allowed) == []


@pytest.mark.parametrize("target", PURE)
def test_domain_code_does_no_io(target: str) -> None:
    """The decider, events, codec, upcasters and each read model's `apply` are pure."""
    adapters = {"orders.store", "orders.bootstrap", "orders.api", "projections.esdb"}
    assert offenders(target, IO_MODULES | adapters) == []


@pytest.mark.parametrize("fake", ["orders/memory.py", "projections/memory.py"])
def test_the_fakes_need_no_server(fake: str) -> None:
    """The in-memory fakes import no client, no adapter and no emulator."""
    forbidden = IO_MODULES | {"orders.store", "projections.esdb", "esdb_emulator"}
    assert offenders(fake, forbidden) == []


def test_only_the_store_imports_esdbclient_on_the_write_side() -> None:
    assert offenders("orders", {"esdbclient", "grpc"}) == [
        "orders/store.py: " + module
        for module in sorted(imports(ROOT / "orders" / "store.py"))
        if module.split(".")[0] in {"esdbclient", "grpc"}
    ]


def test_only_the_adapter_imports_esdbclient_on_the_read_side() -> None:
    assert {line.split(":")[0] for line in offenders("projections", {"esdbclient", "grpc"})} == {
        "projections/esdb.py"
    }


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The checks can fail: a file importing the emulator is reported with its import."""
    package = tmp_path / "orders"
    package.mkdir()
    (package / "bad.py").write_text(
        "from orders.cli.common import say\ndef late():\n    from projections.cli import main\n"
    )
    forbidden = {"projections", "orders.cli"}
    assert offenders("orders", forbidden, {"orders.cli.common"}, root=tmp_path) == [
        "orders/bad.py: projections.cli",
        "orders/bad.py: projections.cli.main",
    ]
