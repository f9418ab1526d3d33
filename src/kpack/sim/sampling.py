"""One metrics sample of the compiled replay: a single pass over nodes and slots (Numba)."""

from __future__ import annotations

from numba import njit

from .loop import BOUND, PENDING


@njit(cache=True, nogil=True)
def sample_stats(alloc, req, present, unsched, state, ref0, ref1, used, capv):
    """Sums requests into used and allocatable into capv over present nodes; returns (pending, running,
    fragmentation), the fragmentation as metrics.fragmentation computes it (column 0 cpu, 1 memory; its
    float sums add integers, exact in any order)."""
    used[:] = 0
    capv[:] = 0
    any_ok = False
    total = 0.0
    frag = 0.0
    for n in range(alloc.shape[0]):
        if not present[n]:
            continue
        for r in range(alloc.shape[1]):
            used[r] += req[n, r]
            capv[r] += alloc[n, r]
        if unsched[n]:
            continue
        any_ok = True
        cpu = float(alloc[n, 0] - req[n, 0])
        if cpu > 0:
            total += cpu
            if not (cpu >= ref0 and float(alloc[n, 1] - req[n, 1]) >= ref1):
                frag += cpu
    pending = 0
    running = 0
    for s in range(state.shape[0]):
        if state[s] == PENDING:
            pending += 1
        elif state[s] == BOUND:
            running += 1
    f = 0.0
    if any_ok and ref0 > 0 and total > 0:
        f = frag / total
    return pending, running, f
