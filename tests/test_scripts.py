"""Every script of scripts/ runs to the end in its ``--quick`` mode, as a user would run it (a
subprocess of this Python), so that `make bench` never rots (../shared/DESIGN.md, "Testing as
users meet it"). The figures of a quick run mean nothing and are not looked at: a benchmark is
never a pass/fail timing test. A quick run writes nothing into the repository.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
#: Files of scripts/ that are not run by themselves: the scripts' shared module and the locust
#: file scripts/load.py hands to locust.
NOT_SCRIPTS = {"benchlib.py", "locustfile.py"}
#: Run here by their own test (bench_all.py runs the others).
OWN_TEST = {"bench_all.py", "screenshot_map.py", "screenshots_access.py"}
CHROMIUM = shutil.which("chromium")
#: Sections scripts/bench_all.py puts together (one per benchmark).
SECTIONS = [
    "## Boundary preparation",
    "## Map page",
    "## Briefing exports",
    "## Roll-up of former units",
    "## Login sessions: the per-request check",
    "## Reading status workbooks",
    "## Production serving (load)",
]


def bench_steps() -> list[str]:
    """Return the scripts scripts/bench_all.py runs."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        bench_all = importlib.import_module("bench_all")
    finally:
        sys.path.remove(str(SCRIPTS))
    return [step.script for step in bench_all.STEPS]


def snapshot() -> dict[str, tuple[int, int]]:
    """Return every file of docs/ and instance/ with its size and modification time."""
    out = {}
    for folder in ("docs", "instance"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file():
                st = path.stat()
                out[str(path.relative_to(ROOT))] = (st.st_size, st.st_mtime_ns)
    return out


def git_status() -> str:
    done = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else ""


@pytest.fixture
def repository_untouched():
    """Fail when the test wrote into docs/ or instance/, or changed what git sees."""
    before, status = snapshot(), git_status()
    yield
    assert snapshot() == before, "a quick run wrote into docs/ or instance/"
    assert git_status() == status, "a quick run changed files of the repository"


def run_script(name: str, *args: str, timeout: float = 300) -> str:
    """Run scripts/`name` with this Python; return what it printed (stdout, then stderr)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=env,
        check=False,
    )
    output = done.stdout + "\n" + done.stderr
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{output[-6000:]}"
    assert "Traceback" not in output, f"{name} printed a traceback:\n{output[-6000:]}"
    return done.stdout


def test_every_script_has_a_quick_run_here():
    scripts = {p.name for p in SCRIPTS.glob("*.py")} - NOT_SCRIPTS
    steps = bench_steps()
    assert len(steps) == len(set(steps))
    assert scripts == set(steps) | OWN_TEST, "a script of scripts/ is not run by the tests"


@pytest.mark.slow
@pytest.mark.browser
def test_bench_all_runs_every_benchmark_quickly(tmp_path, repository_untouched):
    out = tmp_path / "PERFORMANCE.md"
    run_script("bench_all.py", "--quick", "--out", str(out))
    doc = out.read_text(encoding="utf-8")
    assert doc.startswith("# Performance\n")
    assert "Quick mode" in doc
    positions = [doc.find(heading + "\n") for heading in SECTIONS]
    assert all(p > 0 for p in positions) and positions == sorted(positions), positions
    for heading, text in zip(SECTIONS, doc.split("\n## ")[1:], strict=True):
        assert f"## {text}".startswith(heading)
        # the project's rule: every table holds a baseline of the same run and ratios to it
        assert "| --- |" in text and "baseline" in text, heading
        assert "Command: `.venv/bin/python scripts/" in text and "--quick" in text, heading


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_screenshots_quickly_into_a_given_folder(tmp_path, repository_untouched):
    printed = run_script("screenshot_map.py", "--quick", "--out", str(tmp_path))
    for name in ("map.png", "map-phone.png"):
        picture = tmp_path / name
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert picture.stat().st_size > 50_000, name  # a drawn map, not a blank page
        assert str(picture) in printed


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_layout_and_print_screenshots_quickly_into_a_given_folder(tmp_path, repository_untouched):
    printed = run_script("screenshots_access.py", "--quick", "--out", str(tmp_path))
    names = [f"layout-{w}x{h}.png" for w, h in ((390, 844), (844, 390), (768, 1024), (1024, 768))]
    names += ["layout-1366x768.png", "layout-1920x1080.png", "layout-390x844-edit.png"]
    names += ["layout-390x844-figures.png"]
    if shutil.which("pdftoppm"):
        names.append("print-a4-landscape.png")
    for name in names:
        picture = tmp_path / name
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert picture.stat().st_size > 20_000, name  # a drawn page, not a blank one
        assert str(picture) in printed
    assert (tmp_path / "print-a4-landscape.pdf").read_bytes()[:5] == b"%PDF-"
