"""``benchmarks/run.py --load --quick`` and ``--scale --quick`` still run, end to end
(locust, gunicorn gthread workers, PostgreSQL, the SMTP sink, matplotlib), and report
every figure: fields and files, never a speed. They run in the benchmark's own virtualenv
(``benchmarks/.venv``, made with the ``bench`` extra by ``run.py`` itself)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"
PNG = b"\x89PNG\r\n\x1a\n"

# Minutes of locust and a benchmark virtualenv: once per test command, in the leg that
# has a PostgreSQL anyway (the benchmarks run on it).
pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="the benchmarks' smoke runs go with the PostgreSQL leg"
)


def run_bench(mode: str, out: Path) -> str:
    env = {**os.environ, "TMPDIR": str(out)}
    result = subprocess.run(
        [sys.executable, str(BENCH), mode, "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=out,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG, path


@pytest.mark.slow
def test_the_quick_load_run_reports_every_endpoint_worker_and_target(tmp_path: Any) -> None:
    out = run_bench("--load", tmp_path)
    for line in ("machine: ", "versions: ", "package: ", "database: PostgreSQL", "serving: gunicorn -k gthread"):
        assert line in out
    for app in ("flask_registration", "floor"):
        # app @ rate, endpoint, n, ok/s, p50, p95, p99, errors by status
        row = rf"^{app} @ \d+/s\s+Aggregated\s+\d+\s+[\d.]+\s+\d+\s+\d+\s+\d+  errors: "
        assert re.search(row, out, re.M), (app, out)
        assert re.search(rf"^  {app}\s+at start [\d, ]+; whole ramp \(VmHWM\) \d+, \d+$", out, re.M)
    assert re.search(r"^saturation \(flask_registration\): [\d.]+ requests/s served$", out, re.M)
    for label in ("flask_registration, admission control", "flask_registration, no admission control", "floor"):
        assert re.search(rf"^{re.escape(label)}.*signup \(flood\)\s+\d+", out, re.M), label
        assert re.search(rf"^  {re.escape(label)}.*: RSS at start [\d, ]+, peak \d+, \d+ MiB", out, re.M)
    for target in ("confirm p99 during the flood", "me p99 during the flood", "peak RSS per worker", "5xx answers"):
        assert re.search(rf"^  {target}.*\s(met|MISSED)$", out, re.M), target
    assert re.search(r"^  accounts written = verification emails.*\s(met|MISSED)$", out, re.M)
    report = json.loads((tmp_path / "load.json").read_text())
    assert set(report) >= {"header", "plan", "ramps", "saturation", "floods", "slots", "memory_mib"}
    step = report["ramps"]["ours"]["steps"][0]
    assert set(step["figures"]["Aggregated"]) == {"count", "failures", "p50", "p95", "p99", "ok_per_s", "errors"}
    assert all(flood["samples"] and flood["peak_rss"] for flood in report["floods"])
    for name in ("load-latency.png", "load-rss.png"):
        assert_png(tmp_path / name)


@pytest.mark.slow
def test_the_quick_scale_run_reports_each_size_operation_and_purge(tmp_path: Any) -> None:
    out = run_bench("--scale", tmp_path)
    assert "database: PostgreSQL" in out
    rows = re.findall(r"^\s+[\d,]+ (?:\s*[\d.]+ /\s*[\d.]+){4}\s+\d+ rows in \d+ ms$", out, re.M)
    assert len(rows) == 2, out  # the two quick sizes
    for op in ("signup", "confirm", "login"):
        assert re.search(rf"^  {op}\s+[+-][\d.]+%  (met|MISSED)$", out, re.M), op
    report = json.loads((tmp_path / "scale.json").read_text())
    assert [row["size"] for row in report["sizes"]] == [1000, 3000]
    assert set(report["sizes"][0]["ops"]) == {"signup", "confirm", "login", "reset"}
    assert set(report["sizes"][0]["purge"]) == {"ms", "deleted", "output"}
    assert_png(tmp_path / "scale-latency.png")
