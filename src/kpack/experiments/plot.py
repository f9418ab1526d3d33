"""PNG chart of GPU allocation % against arrived workload % for several policies (like FGD Fig. 9(a))."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..gpu.policies import POLICIES
from .fgd import RunResult, median_curves


def plot_allocation(results: list[RunResult], png: str | Path, lo: float = 0.0, hi: float = 130.0,
                    title: str | None = None) -> Path:
    """Median (over seeds) allocation curve per policy with a 25-75 % band and the ideal diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("plot: no runs to plot")
    med = median_curves(results)
    x = np.arange(len(results[0].arrived_pct), dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot([lo, min(hi, 100)], [lo, min(hi, 100)], color="0.6", ls="--", lw=1, label="ideal")
    if hi > 100:
        ax.plot([100, hi], [100, 100], color="0.6", ls="--", lw=1)
    for (trace, policy), curves in med.items():
        rs = [r for r in results if r.trace == trace and r.policy == policy]
        a = np.vstack([r.allocation_pct for r in rs])
        label = POLICIES[policy].label if policy in POLICIES else policy
        if len(med) > len({p for _, p in med}):
            label = f"{trace}/{label}"
        (line,) = ax.plot(x, curves["allocation_pct"], lw=1.4, label=label)
        if len(rs) > 1:
            ax.fill_between(x, np.nanpercentile(a, 25, axis=0), np.nanpercentile(a, 75, axis=0),
                            color=line.get_color(), alpha=0.15, lw=0)
    if lo < 90 and hi > 100:  # zoom on the saturation knee, where the policies separate
        ins = ax.inset_axes([0.08, 0.52, 0.42, 0.42])
        for line in ax.get_lines():
            ins.plot(line.get_xdata(), line.get_ydata(), color=line.get_color(), ls=line.get_linestyle(),
                     lw=line.get_linewidth())
        ins.set_xlim(85, 110)
        ins.set_ylim(83, 100)
        ins.tick_params(labelsize=7)
        ins.grid(alpha=0.3)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, min(105.0, hi))
    ax.set_xlabel("Arrived workload (% of GPU capacity)")
    ax.set_ylabel("GPU allocation ratio (%)")
    trace_names = sorted({r.trace for r in results})
    n_seeds = len({r.seed for r in results})
    ax.set_title(title or f"openb {', '.join(trace_names)}: median over {n_seeds} seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png
