"""Every pod the control plane owns, as columns: spec, ordinal, controller, node, phase, timestamps."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..models import Pod

PENDING, RUNNING, SUCCEEDED, FAILED = 0, 1, 2, 3
PHASES = ("Pending", "Running", "Succeeded", "Failed")


class PodStore:
    """Rows of pods (never reused). A row is a spec Pod (shared by all pods of one ReplicaSet, or of one
    DaemonSet revision on one node) plus an ordinal: the pod is named `<spec name>-<ordinal>` (ordinal -1: a
    bare pod named as its spec). `ctl` is the owning controller's index (-1 for bare pods), `rev` a
    revision code inside that controller, `target` the node a DaemonSet pod is pinned to (node id or -1),
    `node` the node id it is bound to (-1 while pending). Times are step numbers; `alive` is False once the
    pod object is deleted."""

    COLUMNS = (
        ("spec", np.int32),
        ("ordinal", np.int64),
        ("ctl", np.int32),
        ("rev", np.int32),
        ("target", np.int32),
        ("node", np.int32),
        ("created", np.int64),
        ("bound", np.int64),
        ("ended", np.int64),
        ("phase", np.int8),
        ("alive", np.bool_),
    )

    def __init__(self) -> None:
        self.specs: list[Pod] = []
        self.n = 0
        for name, dt in self.COLUMNS:
            setattr(self, name, np.zeros(64, dt))

    def add_spec(self, pod: Pod) -> int:
        self.specs.append(pod)
        return len(self.specs) - 1

    def _reserve(self, extra: int) -> None:
        need = self.n + extra
        cap = len(self.spec)
        if need <= cap:
            return
        cap = max(need, 2 * cap)
        for name, dt in self.COLUMNS:
            old = getattr(self, name)
            new = np.zeros(cap, dt)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def add(
        self,
        spec: int | np.ndarray,
        ordinals: np.ndarray,
        ctl: int,
        rev: int | np.ndarray,
        target: int | np.ndarray,
        created: int,
    ) -> np.ndarray:
        """Append pending pods; returns their rows."""
        k = len(ordinals)
        self._reserve(k)
        s = slice(self.n, self.n + k)
        self.spec[s] = spec
        self.ordinal[s] = ordinals
        self.ctl[s] = ctl
        self.rev[s] = rev
        self.target[s] = target
        self.node[s] = -1
        self.created[s] = created
        self.bound[s] = -1
        self.ended[s] = -1
        self.phase[s] = PENDING
        self.alive[s] = True
        rows = np.arange(self.n, self.n + k, dtype=np.int64)
        self.n += k
        return rows

    def name(self, row: int) -> str:
        sp = self.specs[int(self.spec[row])]
        o = int(self.ordinal[row])
        return sp.name if o < 0 else f"{sp.name}-{o}"

    def names(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        specs, spec, ordinal = self.specs, self.spec, self.ordinal
        return [
            specs[s].name if o < 0 else f"{specs[s].name}-{o}"
            for s, o in zip(spec[rows].tolist(), ordinal[rows].tolist())
        ]

    def keys(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        specs = self.specs
        return [
            f"{specs[s].namespace}/{specs[s].name}" + ("" if o < 0 else f"-{o}")
            for s, o in zip(self.spec[rows].tolist(), self.ordinal[rows].tolist())
        ]

    def live(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n])

    def active(self) -> np.ndarray:
        """Rows of pods that exist and have not finished (Pending or Running)."""
        n = self.n
        return np.flatnonzero(self.alive[:n] & (self.phase[:n] <= RUNNING))

    def columns(self) -> dict[str, list]:
        """Plain lists of every column (for saving)."""
        return {name: getattr(self, name)[: self.n].tolist() for name, _ in self.COLUMNS}

    @classmethod
    def from_columns(cls, specs: list[Pod], cols: dict[str, list]) -> "PodStore":
        st = cls()
        st.specs = list(specs)
        n = len(cols.get("spec", []))
        st._reserve(n)
        for name, dt in cls.COLUMNS:
            getattr(st, name)[:n] = np.asarray(cols[name], dtype=dt)
        st.n = n
        return st
