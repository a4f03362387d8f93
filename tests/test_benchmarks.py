"""The benchmark script's quick mode still runs (so it cannot rot): figures, not speeds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.mark.slow
def test_quick_benchmark_prints_the_figures_and_sql_counts(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "machine: " in out and "Python " in out
    for op in ("signup", "confirm", "login"):
        for app in ("flask_registration", "floor"):
            # op, app, count, req/s median (min..max), latency median, p90, SQL statements
            row = rf"^{op}\s+{app}\s+\d+\s+[\d.]+ \([\d.]+\.\.[\d.]+\)\s+[\d.]+\s+[\d.]+\s+\d+(\.\.\d+)?$"
            assert len(re.findall(row, out, re.M)) == 2, (op, app, out)  # argon2 defaults and cheap
    assert "peak RSS per process: flask_registration" in out
    assert re.search(r"SQL statements per signup: at most 3\s+\d+\s+(met|MISSED)", out)
    assert re.search(r"SQL statements per confirm: at most 2\s+\d+\s+(met|MISSED)", out)
    assert re.search(r"^signup / flask_registration: \d+$", out, re.M)
    if "Flask-Security-Too" not in result.stdout.split("versions:")[1].splitlines()[0]:
        assert "Flask-Security-Too is not installed in this Python" in out


@pytest.mark.slow
def test_the_hand_over_benchmark_prints_both_figures_and_their_ratio() -> None:
    script = BENCH.parent / "handoff.py"
    result = subprocess.run(
        [sys.executable, str(script), "--rounds", "2", "--count", "50"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    if sys.platform.startswith("linux"):
        for label in ("in the caller's thread", "on a low-priority thread", "hand-over"):
            assert re.search(rf"^  {label}\s+-?[\d.]+ us per check", out, re.M), out
        assert re.search(r"^  ratio, per round\s+[\d.]+ \([\d.]+\.\.[\d.]+\)$", out, re.M), out
    else:
        assert "nothing to measure" in out
