"""The PNG plots of ``run.py --load`` and ``--scale`` (matplotlib, the ``bench`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

NAMES = {"ours": "flask_registration", "floor": "floor"}
STYLE = {"ours": "-", "floor": "--"}


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_load(report: dict[str, Any], out: Path) -> list[Path]:
    """Latency percentiles against the arrival rate (us and the floor), and RSS over
    time during the flood (with and without admission control)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for app, ramp in report["ramps"].items():
        rates = [s["rate"] for s in ramp["steps"]]
        for pct, marker in (("p50", "o"), ("p95", "s"), ("p99", "^")):
            values = [getattr(s["figures"]["Aggregated"], pct) for s in ramp["steps"]]
            axes[0].plot(rates, values, STYLE[app], marker=marker, label=f"{NAMES[app]} {pct}")
        for name, marker in (("me", "o"), ("confirm", "s")):
            values = [s["figures"][name].p99 if name in s["figures"] else float("nan") for s in ramp["steps"]]
            axes[1].plot(rates, values, STYLE[app], marker=marker, label=f"{NAMES[app]} {name} p99")
    axes[0].set_title("every request")
    axes[1].set_title("the cheap requests")
    for ax in axes:
        ax.set_xlabel("offered arrival rate (requests/s)")
        ax.set_ylabel("latency (ms)")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    paths = [_save(fig, out / "load-latency.png")]

    fig, ax = plt.subplots(figsize=(9, 4.2))
    colours = ["tab:blue", "tab:red", "tab:gray"]
    for flood, colour in zip(report["floods"], colours, strict=False):
        begin, end = flood["window"]
        by_pid: dict[int, list[tuple[float, float]]] = {}
        for t, pid, mib in flood["samples"]:
            by_pid.setdefault(pid, []).append((t - begin, mib))
        for i, points in enumerate(by_pid.values()):
            ax.plot(*zip(*points, strict=True), color=colour, alpha=0.8, label=flood["label"] if i == 0 else None)
        ax.axvspan(0, end - begin, color="gold", alpha=0.05)
    ours = next((f for f in report["floods"] if f["app"] == "ours" and f["slots"] is None), None)
    if ours and ours["start_rss"]:
        limit = max(ours["start_rss"]) + report["slots"] * report["memory_mib"] + 16
        ax.axhline(limit, color="tab:blue", linestyle=":", label="ceiling with admission control")
    ax.set_xlabel("seconds since the flood started")
    ax.set_ylabel("RSS per worker (MiB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    paths.append(_save(fig, out / "load-rss.png"))
    return paths


def plot_scale(report: dict[str, Any], out: Path) -> list[Path]:
    """Median latency of each operation against the number of users."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    sizes = [row["size"] for row in report["sizes"]]
    for op in report["ops"]:
        ax.plot(sizes, [row["ops"][op]["median_ms"] for row in report["sizes"]], marker="o", label=f"{op} median")
    ax.set_xscale("log")
    ax.set_xlabel("users in the table")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)  # from zero: a change of 10% looks like one
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return [_save(fig, out / "scale-latency.png")]
