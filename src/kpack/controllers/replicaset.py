"""ReplicaSet controller: keep `replicas` pods, create the missing ones, delete extras in upstream's order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from .objects import ReplicaSetObj

if TYPE_CHECKING:
    from .plane import ControlPlane


def deletion_order(cp: "ControlPlane", rows: np.ndarray, related: Optional[np.ndarray] = None) -> np.ndarray:
    """`rows` sorted for deletion, in the spirit of upstream ActivePodsWithRanks: unscheduled first, then not
    ready, then pods sharing a node with more related pods, then the most recently ready, then the newest."""
    if not len(rows):
        return rows
    st = cp.store
    node = st.node[rows]
    assigned = (node >= 0).astype(np.int8)
    ready = cp.ready[rows].astype(np.int8)
    rel = rows if related is None else related
    rel_nodes = st.node[rel]
    rel_nodes = rel_nodes[rel_nodes >= 0]
    if len(rel_nodes):
        counts = np.bincount(rel_nodes, minlength=int(max(rel_nodes.max(), node.max()) + 1))
        coloc = np.where(node >= 0, counts[np.maximum(node, 0)], 0)
    else:
        coloc = np.zeros(len(rows), np.int64)
    order = np.lexsort((-rows, -st.created[rows], -st.bound[rows], -coloc, ready, assigned))
    return rows[order]


def sync_replicaset(
    cp: "ControlPlane", rs: ReplicaSetObj, rows: np.ndarray, related: Optional[np.ndarray] = None
) -> np.ndarray:
    """Create or delete pods so that `rs` has `rs.replicas` active pods. Returns its active rows."""
    diff = rs.replicas - len(rows)
    if diff > 0:
        ords = np.arange(rs.next_ordinal, rs.next_ordinal + diff, dtype=np.int64)
        rs.next_ordinal += diff
        new = cp.store.add(rs.spec_id, ords, rs.ctl, rs.ctl, -1, cp.steps)
        cp.record(rs.key, "SuccessfulCreate", f"Created {diff} pod(s)")
        return np.concatenate([rows, new])
    if diff < 0:
        victims = deletion_order(cp, rows, related)[:-diff]
        cp.delete_pods(victims)
        cp.record(rs.key, "SuccessfulDelete", f"Deleted {-diff} pod(s)")
        return np.setdiff1d(rows, victims, assume_unique=True)
    return rows
