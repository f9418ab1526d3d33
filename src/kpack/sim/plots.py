"""PNG plots of replays (matplotlib Agg): utilisation, pending pods over time, wait-time distribution."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import WAIT_EDGES

PLOTS = ("utilisation", "pending", "wait")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(runs: list[tuple[str, object, np.ndarray]], out: str | Path) -> dict[str, Path]:
    """runs: (label, metrics pyarrow Table, wait histogram); one figure per plot, runs overlaid."""
    plt = _figure()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f"{k}.png" for k in PLOTS}
    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(8, 4))
    for k, (label, m, _) in enumerate(runs):
        t = np.asarray(m.column("time").to_numpy(), dtype=float) / 3600
        for r, color in (("cpu", "C0"), ("memory", "C1"), ("nvidia.com/gpu", "C2")):
            col = f"alloc_{r}"
            if col in m.column_names and np.any(m.column(col).to_numpy()):
                ax.plot(t, 100 * m.column(col).to_numpy(), styles[k % 4], color=color, label=f"{r} ({label})")
    ax.set(xlabel="time (h)", ylabel="allocated (%)", title="Allocation over time", ylim=(0, 100))
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(paths["utilisation"], dpi=90, metadata={"Software": None})
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for k, (label, m, _) in enumerate(runs):
        ax.plot(
            np.asarray(m.column("time").to_numpy(), float) / 3600,
            m.column("pending").to_numpy(),
            styles[k % 4],
            label=label,
        )
    ax.set(xlabel="time (h)", ylabel="pending pods", title="Pending pods over time")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(paths["pending"], dpi=90, metadata={"Software": None})
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for k, (label, _, hist) in enumerate(runs):
        n = hist.sum()
        cdf = np.cumsum(hist) / n if n else np.zeros(len(hist))
        ax.step(np.maximum(WAIT_EDGES, 0.5), 100 * cdf, styles[k % 4], where="post", label=label)
    ax.set(
        xscale="log",
        xlabel="wait before first placement (s; <1 s shown at 0.5)",
        ylabel="pods placed (%)",
        title="Wait-time distribution (CDF)",
        ylim=(0, 100.5),
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(paths["wait"], dpi=90, metadata={"Software": None})
    plt.close(fig)
    return paths
