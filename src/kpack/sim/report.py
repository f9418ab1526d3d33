"""report.html: one self-contained page (plots inlined as base64 PNG, summary and pending-reason tables)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

ROWS = (  # (summary key path, label)
    ("backend", "placement backend"),
    ("policy", "policy"),
    ("profile", "profile"),
    ("seed", "seed"),
    ("window_s", "time window (s)"),
    ("nodes", "nodes"),
    ("pods", "pods"),
    ("events", "events"),
    ("placements", "placements"),
    ("departures", "departures"),
    ("evictions", "evictions (node fail/remove)"),
    ("running_at_end", "running at end"),
    ("pending_at_end", "pending at end"),
    ("max_pending", "max pending"),
    ("wait_s.mean", "mean wait (s)"),
    ("wait_s.p90", "p90 wait (s, bin edge)"),
    ("wait_s.max", "max wait (s)"),
    ("mean_allocation.cpu", "mean cpu allocation"),
    ("mean_allocation.memory", "mean memory allocation"),
    ("peak_allocation.cpu", "peak cpu allocation"),
    ("mean_fragmentation", "mean fragmentation"),
    ("unallocated_gpu_pct", "unallocated GPU % (FGD metric)"),
    ("control_plane.pods_created", "control-plane pods created"),
    ("control_plane.pods_deleted", "control-plane pods deleted"),
    ("control_plane.steps", "control-plane steps"),
)
CSS = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:left;font-size:.9em;vertical-align:top}th{background:#f3f3f3}td.num{text-align:right;
font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #ddd;margin:.3em 0}
.runs{display:flex;gap:1.5em;flex-wrap:wrap}.runs>div{flex:1;min-width:420px}"""


def lookup(summary: dict, key: str):
    v = summary
    for part in key.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def fmt(v) -> str:
    """How numbers are shown (the browser test reads them back with the same rule)."""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def write_report(
    runs: list[tuple[str, dict]], plots: dict[str, Path], out: str | Path, title: str = "kpack simulate"
) -> Path:
    """runs: (label, summary dict) side by side; plots: name -> PNG (runs overlaid in each)."""
    out = Path(out)
    h = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>Trace <code>{html.escape(str(runs[0][1].get('trace', '')))}</code>. "
        "Numbers are also in each run's summary.json; time series in metrics.parquet.</p>",
        "<h2>Summary</h2><table id='summary'><tr><th>metric</th>",
    ]
    h += [f"<th>{html.escape(label)}</th>" for label, _ in runs]
    h.append("</tr>")
    for key, label in ROWS:
        vals = [lookup(s, key) for _, s in runs]
        if all(v is None for v in vals):
            continue
        h.append(f"<tr><th>{html.escape(label)}</th>")
        for k, v in enumerate(vals):
            cls = " class='num'" if isinstance(v, (int, float)) else ""
            h.append(
                f"<td{cls} data-run='{k}' data-key='{key}'>{html.escape(fmt(v) if v is not None else '')}"
                "</td>"
            )
        h.append("</tr>")
    h.append("</table><h2>Plots</h2>")
    for name, path in plots.items():
        h.append(f"<div>{_img(path, name)}</div>")
    h.append("<h2>Top pending reasons</h2><div class='runs'>")
    for k, (label, s) in enumerate(runs):
        h.append(
            f"<div><h3>{html.escape(label)}</h3><table class='reasons' data-run='{k}'>"
            "<tr><th>failed attempts</th><th>reason</th></tr>"
        )
        for reason, n in s.get("top_pending_reasons", []):
            h.append(f"<tr><td class='num'>{n}</td><td>{html.escape(reason)}</td></tr>")
        if not s.get("top_pending_reasons"):
            h.append("<tr><td colspan='2'>no pod ever waited for capacity</td></tr>")
        h.append("</table></div>")
    h.append("</div>")
    if any("control_plane" in s for _, s in runs):
        h.append("<h2>Workloads (events.parquet)</h2><div class='runs'>")
        for k, (label, s) in enumerate(runs):
            h.append(f"<div><h3>{html.escape(label)}</h3><table class='workloads' data-run='{k}'>"
                     "<tr><th>workload</th><th>rollout status at the end</th></tr>")
            for ref, st in sorted((s.get("control_plane") or {}).get("workloads", {}).items()):
                h.append(f"<tr><td>{html.escape(ref)}</td><td>{html.escape(st['message'])}</td></tr>")
            h.append("</table></div>")
        h.append("</div>")
    h.append("<script type='application/json' id='summaries'>")
    h.append(html.escape(json.dumps([s for _, s in runs], sort_keys=True), quote=False))
    h.append("</script></body></html>\n")
    out.write_text("".join(h))
    return out
