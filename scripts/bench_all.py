"""Run every benchmark to the end and write docs/PERFORMANCE.md from what they print.

    .venv/bin/python scripts/bench_all.py                  # make bench: docs/PERFORMANCE.md
    .venv/bin/python scripts/bench_all.py --skip load.py   # without the load test
    .venv/bin/python scripts/bench_all.py --quick [--out FILE]   # every script in --quick mode

Each benchmark script prints one Markdown section (heading, command, table of figures with a
baseline measured in the same run and ratios to it, and what they mean); this script runs them
in turn with this Python, puts a preamble on top (the date from the app's clock, the git commit,
the machine) and writes the file only when every script ended well (exit 0). Progress goes to
stderr. `--quick` runs every script in its quick mode and writes to `--out` (standard output
when not given), never into docs/: it is what tests/test_scripts.py runs.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import ROOT, parser, say, secs, wrap

from geo_app import clock

DOC = ROOT / "docs" / "PERFORMANCE.md"


@dataclass(frozen=True)
class Step:
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...] = ("--quick",)


#: What `make bench` runs, in this order (the load test last: it is the longest).
STEPS = (
    Step("bench_boundaries.py", ("--national",)),
    Step("bench_map.py", ("--national", "--browser"), ("--quick", "--browser")),
    Step("bench_export.py", ()),
    Step("bench_rollup.py", ()),
    Step("bench_sessions.py", ()),
    Step("bench_import.py", ()),
    Step("load.py", ()),
)

PREAMBLE = """
Every figure here comes from a script of `scripts/` that measures a baseline in the same run and
prints ratios to it: the machines are shared with other engineers' test suites and noisy, so
compare the ratios, not the times. Nothing here is a pass/fail test. `make test` runs every
script in its `--quick` mode (`tests/test_scripts.py`), so none of them rots.
"""


def git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def commit() -> str:
    """Return the short hash of HEAD, marked when tracked files (but this one) differ."""
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git(
        "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/PERFORMANCE.md"
    )
    return f"`{head}`" + (" with uncommitted changes" if changed else "")


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown memory"


def run_step(step: Step, quick: bool) -> tuple[str, float]:
    """Run one script; return what it printed and how long it took (exit on a failure)."""
    args = step.quick if quick else step.full
    if quick and "--browser" in args and shutil.which("chromium") is None:
        say(f"bench_all: no chromium: {step.script} runs without --browser")
        args = tuple(a for a in args if a != "--browser")
    say(f"bench_all: {step.script} {' '.join(args)}")
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / step.script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env=dict(os.environ, PYTHONIOENCODING="utf-8"),
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        say(f"bench_all: {step.script} failed (exit {done.returncode}); nothing written")
        sys.exit(1)
    text = done.stdout.decode("utf-8").strip()
    if not text.startswith("## "):
        say(f"bench_all: {step.script} printed no Markdown section; nothing written")
        sys.exit(1)
    return text, seconds


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def document(
    sections: list[str], steps: list[Step], quick: bool, seconds: float, loads: list[str]
) -> str:
    commands = ", ".join(
        "`" + " ".join([f"scripts/{s.script}", *(s.quick if quick else s.full)]) + "`"
        for s in steps
    )
    made = (
        ("Made by `scripts/bench_all.py --quick`" if quick else "Made by `make bench`")
        + f" on {clock.today().isoformat()} at commit {commit()}, on {os.cpu_count()} cores, "
        f"{memory_gib()}, Python {platform.python_version()}. `scripts/bench_all.py` ran "
        f"{commands} in {secs(seconds)} and wrote this file from what they printed (edit the "
        "scripts, not this file). The machine's 1-minute load average before each script, in "
        f"turn: {', '.join(loads)} (on {os.cpu_count()} cores)."
    )
    if any(s.script == "load.py" for s in steps):
        made += (
            " The load test (`scripts/load.py`: 4 runs of 60 s) is part of `make bench`; it "
            "needs the PostgreSQL server at 127.0.0.1:5432 (`--skip load.py` leaves it out)."
        )
    if quick:
        made += " **Quick mode: tiny sizes, the figures mean nothing.**"
    head = "# Performance\n\n" + wrap(made) + "\n\n" + wrap(PREAMBLE) + "\n"
    return "\n".join([head, *(s.rstrip() + "\n" for s in sections)])


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file to write (default docs/PERFORMANCE.md; with --quick, standard output)",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[s.script for s in STEPS],
        help="leave this script out (again for more)",
    )
    args = p.parse_args(argv)
    steps = [s for s in STEPS if s.script not in args.skip]
    t0 = time.perf_counter()
    sections, loads = [], []
    for step in steps:
        loads.append(load_average())
        text, took = run_step(step, args.quick)
        say(f"bench_all: {step.script} done in {secs(took)}")
        sections.append(text)
    doc = document(sections, steps, args.quick, time.perf_counter() - t0, loads)
    out = args.out if args.out is not None else (None if args.quick else DOC)
    if out is None:
        print(doc, end="")
    else:
        out.write_text(doc, encoding="utf-8")
        say(f"bench_all: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
