"""The house's import rules (../shared/DESIGN.md, "Architecture"), read from the source itself.

Every ``import`` of every module of the package counts, also those inside functions: a rule
broken lazily is still broken.

1. ``core`` imports only the standard library, ``errors``, ``clock``, ``i18n`` and itself.
2. ``store`` never imports ``geodata``, ``readmodel``, ``outputs``, ``webmap``, ``web`` or ``cli``.
3. ``outputs`` and ``webmap`` read a view from ``readmodel``; they do not query the store.
4. ``web`` and ``cli`` may import anything below them; nothing imports them (but the app
   factory, ``geo_app.create_app``). Inside ``web/``, a blueprint imports ``web.common``, never
   another blueprint.
5. Each heavy library stays in its room: Flask in ``web/``, folium in ``webmap/``, matplotlib in
   ``outputs/printmap/``, SQLAlchemy in ``store/``, fiona in ``geodata/``, ``io/``, ``outputs/``.

And the one clock: nothing but ``geo_app/clock.py`` asks the machine for the date or time.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "geo_app"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(path: Path, node: ast.ImportFrom) -> str:
    """Return the absolute name of the module an ``import from`` names."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def imports_of(path: Path) -> list[str]:
    """Return every module `path` imports (``from a import b`` gives ``a.b`` when it is one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = resolve(path, node)
            submodules = [
                f"{target}.{alias.name}"
                for alias in node.names
                if target.startswith("geo_app") and _exists(f"{target}.{alias.name}")
            ]
            out.extend(submodules or [target])
    return out


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = {name: imports_of(path) for name, path in MODULES.items()}


def room(module: str) -> str:
    """Return the room of a module of the package: ``core``, ``store``, ``web``, ``clock``..."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def in_room(module: str, *rooms: str) -> bool:
    return room(module) in rooms


def internal(imports: list[str]) -> list[str]:
    return [m for m in imports if m == "geo_app" or m.startswith("geo_app.")]


def external(imports: list[str]) -> set[str]:
    return {m.split(".")[0] for m in imports if m and not m.startswith("geo_app")}


def test_the_rules_see_every_room_of_the_house():
    rooms = {room(m) for m in MODULES}
    expected = {"core", "store", "geodata", "io", "outputs", "webmap", "web", "cli", "readmodel"}
    assert expected <= rooms, expected - rooms
    assert {"clock", "i18n", "errors", "config"} <= rooms


def test_core_imports_only_the_standard_library_errors_clock_i18n_and_itself():
    allowed_rooms = {"core", "errors", "clock", "i18n"}
    for module, imports in IMPORTS.items():
        if not in_room(module, "core"):
            continue
        for target in internal(imports):
            assert room(target) in allowed_rooms, f"{module} imports {target}"
        outside = external(imports) - set(sys.stdlib_module_names) - {"__future__"}
        assert not outside, f"{module} imports {sorted(outside)}"


def test_clock_and_i18n_stay_below_core():
    for module in ("geo_app.clock", "geo_app.i18n", "geo_app.errors"):
        for target in internal(IMPORTS[module]):
            assert room(target) in {"clock", "errors"}, f"{module} imports {target}"


@pytest.mark.parametrize(
    "rooms, forbidden",
    [
        (("store",), {"geodata", "readmodel", "outputs", "webmap", "web", "cli"}),
        (("outputs", "webmap"), {"store", "web", "cli"}),
        (("readmodel",), {"outputs", "webmap", "web", "cli"}),
        (("geodata", "io"), {"readmodel", "outputs", "webmap", "web", "cli"}),
    ],
)
def test_lower_rooms_do_not_import_higher_ones(rooms, forbidden):
    for module, imports in IMPORTS.items():
        if in_room(module, *rooms):
            bad = [t for t in internal(imports) if room(t) in forbidden]
            assert not bad, f"{module} imports {bad}"


def test_nothing_imports_the_doors_but_the_app_factory():
    for module, imports in IMPORTS.items():
        for target in internal(imports):
            if room(target) == "web" and not in_room(module, "web"):
                assert module == "geo_app" and target == "geo_app.web", f"{module} imports {target}"
            if room(target) == "cli":
                assert in_room(module, "cli"), f"{module} imports {target}"


def test_a_blueprint_imports_web_common_never_another_blueprint():
    blueprints = {m for m in MODULES if m.startswith("geo_app.web.") and m != "geo_app.web.common"}
    assert {"geo_app.web.pages", "geo_app.web.api", "geo_app.web.admin"} <= blueprints
    for module in blueprints | {"geo_app.web.common"}:
        web_imports = [t for t in internal(IMPORTS[module]) if room(t) == "web"]
        for target in web_imports:
            assert target == "geo_app.web.common", f"{module} imports {target}"
        if module != "geo_app.web.common":
            assert "geo_app.web.common" in web_imports, f"{module} does not use web.common"


LIBRARY_ROOMS = {
    "flask": {"web"},
    "flask_babel": {"web"},
    "flask_login": {"web"},
    "flask_wtf": {"web"},
    "werkzeug": {"web"},
    "folium": {"webmap"},
    "branca": {"webmap"},
    "matplotlib": {"outputs.printmap"},
    "sqlalchemy": {"store"},
    "alembic": {"store"},
    "fiona": {"geodata", "io", "outputs"},
}


@pytest.mark.parametrize("library", sorted(LIBRARY_ROOMS))
def test_each_heavy_library_stays_in_its_room(library):
    rooms = LIBRARY_ROOMS[library]
    users = [m for m, imports in IMPORTS.items() if library in external(imports)]
    for module in users:
        assert any(module.startswith(f"geo_app.{r}") for r in rooms), f"{module} imports {library}"


# -- the one clock ----------------------------------------------------------------------------
_CLOCK_CALLS = {("date", "today"), ("datetime", "today"), ("datetime", "now")}
_CLOCK_CALLS |= {("datetime", "utcnow"), ("time", "time"), ("time", "localtime")}


def clock_calls(path: Path) -> list[str]:
    """Return the calls in `path` that ask the machine for the date or time of day."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, node.func.attr) in _CLOCK_CALLS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_only_the_clock_asks_the_machine_for_the_date():
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "clock.py" or p.parent != PACKAGE]
    files += sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))
    found = [call for f in files for call in clock_calls(f)]
    assert not found, "use geo_app.clock (now, today, local_date):\n" + "\n".join(found)


def test_the_clock_rule_would_see_a_call():
    probe = ROOT / "tests" / "data" / "clock_probe.txt"
    probe.write_text("import datetime as dt\nx = dt.date.today()\ny = dt.datetime.now()\n")
    try:
        assert len(clock_calls(probe)) == 2
    finally:
        probe.unlink()
