"""The printed report of ``run.py --load``, and its JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

NAMES = {"ours": "flask_registration", "floor": "floor"}
ORDER = ("signup", "confirm", "login", "login (wrong password)", "me", "signup (flood)", "Aggregated")
#: Room over "RSS at start + slots x argon2 memory" for the threads' buffers, connections
#: and caches that grow under load (measured, not derived: see docs/performance.rst).
ALLOWANCE_MIB = 16


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(report), indent=1))


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none"


def _rows(label: str, figures: dict[str, Any]) -> None:
    for name in ORDER:
        e = figures.get(name)
        if e is None:
            continue
        print(
            f"{label:34} {name:24} {e.count:>6} {e.ok_per_s:>7.1f} {e.p50:>7.0f} {e.p95:>7.0f} {e.p99:>7.0f}"
            f"  errors: {_errors(e.errors)}"
        )


def _mib(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values) or "-"


def ceiling(flood: dict[str, Any], slots: int, memory_mib: float) -> float | None:
    """The documented ceiling of one worker: RSS at start + slots x argon2 memory (+ allowance)."""
    if flood["app"] != "ours" or not flood["start_rss"]:
        return None
    n = flood["slots"] if flood["slots"] is not None else slots
    return max(flood["start_rss"]) + n * memory_mib + ALLOWANCE_MIB


def targets(report: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(what, value, met) for the issue's targets, from flask_registration with admission control."""
    ours = next(f for f in report["floods"] if f["app"] == "ours" and f["slots"] is None)
    idle = report["ramps"]["ours"]["steps"][0]["figures"]
    found = []
    for name in ("confirm", "me"):
        during, before = ours["figures"].get(name), idle.get(name)
        if during is None or before is None or not before.p99:
            found.append((f"{name} p99 during the flood / idle p99 (under 5x)", "not measured", False))
            continue
        ratio = during.p99 / before.p99
        found.append((f"{name} p99 during the flood / idle p99 (under 5x)", f"{ratio:.2f}x", ratio < 5))
    limit = ceiling(ours, report["slots"], report["memory_mib"])
    peak = max(ours["peak_rss"], default=0.0)
    found.append(
        ("peak RSS per worker under the ceiling", f"{peak:.0f} / {limit or 0:.0f} MiB", bool(limit and peak < limit))
    )
    five = sum(
        n for k, n in ours["figures"]["Aggregated"].errors.items() if k.startswith("status 5") and k != "status 503"
    )
    found.append(("5xx answers other than 503", str(five), five == 0))
    acc = ours["accounts"]
    # Each account a signup wrote got its email (sent after the commit); a refused
    # signup wrote nothing and sent nothing. Locust stops counting at its deadline, so
    # the answers counted can be a few short of the accounts.
    consistent = acc["after"] - acc["before"] == acc["emails"] and acc["without_hash"] == 0
    found.append(
        (
            "accounts written = verification emails, none without a hash",
            f"{acc['after'] - acc['before']} = {acc['emails']}",
            consistent,
        )
    )
    return found


def print_report(report: dict[str, Any]) -> None:
    head = f"{'':34} {'endpoint':24} {'n':>6} {'ok/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    print("\n== ramp: per step, per endpoint (percentiles over every answer)")
    print(head)
    for app, ramp in report["ramps"].items():
        for step in ramp["steps"]:
            _rows(f"{NAMES[app]} @ {step['rate']}/s", step["figures"])
    print("\npeak RSS of each worker (MiB):")
    for app, ramp in report["ramps"].items():
        for step in ramp["steps"]:
            print(f"  {NAMES[app]:19} @ {step['rate']:>3}/s  {_mib(step['rss'])}")
        print(f"  {NAMES[app]:19} at start {_mib(ramp['start_rss'])}; whole ramp (VmHWM) {_mib(ramp['peak_rss'])}")
    print(f"\nsaturation (flask_registration): {report['saturation']:.1f} requests/s served")
    print("\n== flood: signups at twice that rate, over the mix")
    print(head)
    for flood in report["floods"]:
        _rows(flood["label"], flood["figures"])
    for flood in report["floods"]:
        limit = ceiling(flood, report["slots"], report["memory_mib"])
        acc = flood["accounts"]
        print(
            f"  {flood['label']}: RSS at start {_mib(flood['start_rss'])}, peak {_mib(flood['peak_rss'])} MiB"
            + (f" (ceiling {limit:.0f})" if limit else "")
            + f"; accounts +{acc['after'] - acc['before']}, emails {acc['emails']}, signups answered 202"
            f" {acc['answered_202']}, {acc['without_hash']} without a hash"
        )
    print(f"\n== targets (flask_registration with admission control, {report['slots']} slot(s) per worker)")
    for what, value, met in targets(report):
        print(f"  {what:62} {value:>16}  {'met' if met else 'MISSED'}")
