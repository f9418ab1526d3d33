"""The node timeline of a trace: nodes joining, leaving and failing, and the node events of events.parquet."""
from __future__ import annotations

import numpy as np

from .schema import EVENTS_FILE, TraceError

NODE_ACTION_ORDER = {"add": 0, "fail": 1, "remove": 2}   # at one time; events.parquet node events come last


def quantise(a: np.ndarray, window: int) -> np.ndarray:
    """Times rounded up to the replay window (negative times, "never", stay as they are)."""
    return np.where(a < 0, a, -(-a // window) * window) if window else a


def node_timeline(trace, nd: dict, window: int) -> tuple[list, list]:
    """(node events as (time, order, action, node name) sorted by time and order, workload events as
    (time, event dict) in file order). A node event naming no node of nodes.parquet is a TraceError."""
    names, times = nd["names"], nd["times"]
    nev = []
    for col, act in (("add_time", "add"), ("remove_time", "remove"), ("fail_time", "fail")):
        tt = quantise(times[col], window)
        for i in np.flatnonzero(tt > 0 if col == "add_time" else tt >= 0).tolist():
            nev.append((int(tt[i]), NODE_ACTION_ORDER[act], act, names[i]))
    nev.sort()
    workload = []
    if trace.has_events:
        known = set(names)
        for e in trace.read(EVENTS_FILE).to_pylist():
            t = int(quantise(np.array([e["time"]]), window)[0])
            if e["kind"] == "Node":
                if e["name"] not in known:
                    raise TraceError(f"{trace.dir / EVENTS_FILE}: column 'name': {e['name']!r} is not a node "
                                     "of nodes.parquet")
                nev.append((t, 3, e["action"], e["name"]))
            else:
                workload.append((t, e))
        nev.sort(key=lambda x: (x[0], x[1]))
    return nev, workload
