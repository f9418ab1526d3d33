"""Extender answers as JSON bytes assembled with array operations over a request's node names."""
from __future__ import annotations

from itertools import compress
from typing import Optional

import numpy as np

from . import wire as W

SPACE = 0x20
# each priority as two characters, " 7" or "10" (JSON allows the space)
_DIGITS = np.array([[SPACE, 0x30 + s] if s < 10 else [0x31, 0x30]
                    for s in range(W.MAX_EXTENDER_PRIORITY + 1)], dtype=np.uint8)


def _closed(rows: np.ndarray, head: bytes, close: int) -> bytes:
    """`head` + the bytes of `rows` (a fresh uint8 array, changed in place) with its last byte, a ",",
    replaced by `close`: one copy, where tobytes() and concatenation would make several."""
    rows.reshape(-1)[-1] = close
    return b"".join([head, rows])


class NameList:
    """One request's node names (kube-scheduler sends the same lists again and again: this is kept per
    distinct list) with the JSON pieces its answers are made of. Rows of the fixed-width tables are
    left-padded with spaces, which JSON ignores, so that an answer over thousands of nodes is one row
    selection or one column write on a uint8 array instead of a Python object per node."""

    def __init__(self, names: list[str], json: Optional[list[bytes]] = None):
        self.names = names
        self.json = [W.dumps(n) for n in names] if json is None else json   # each name as a JSON string
        self.width = max(map(len, self.json), default=0)
        self.rows: dict[int, tuple] = {}   # id(cluster) -> (cluster, node_generation, rows): Extender._rows
        self._names_table: Optional[np.ndarray] = None
        self._prio_table: Optional[np.ndarray] = None
        self._keys_table: Optional[np.ndarray] = None
        # recent filter answers over this list by their content: (reasons, code, rid, answer); see `recall`
        self._filters: list[tuple[tuple, np.ndarray, np.ndarray, bytes]] = []

    def recall(self, reasons: tuple, code: np.ndarray, rid: np.ndarray) -> Optional[bytes]:
        """A filter answer built before for these very contents: per position of this list its outcome code
        and reason id (into `reasons`). The answer is a function of them alone, so pods of one class (the
        same selectors and tolerations, other requests) that fail the same nodes for the same reasons share
        it: one comparison of the arrays instead of building ~300 KB of FailedNodes again."""
        for i, (r, c, d, out) in enumerate(self._filters):
            if r == reasons and np.array_equal(c, code) and np.array_equal(d, rid):
                if i:
                    self._filters.insert(0, self._filters.pop(i))
                return out
        return None

    def keep(self, reasons: tuple, code: np.ndarray, rid: np.ndarray, answer: bytes) -> None:
        """Remember a filter answer for `recall` (the 8 most recent per list)."""
        self._filters = [(reasons, code, rid, answer), *self._filters[:7]]

    def subset(self, positions: list[int]) -> "NameList":
        """The NameList of the names at `positions` (their JSON reused)."""
        return NameList([self.names[i] for i in positions], [self.json[i] for i in positions])

    def _table(self, head: bytes, tail: bytes) -> np.ndarray:
        """uint8 [n, len(head) + width + len(tail)]: head, the name right-aligned in `width` spaces, tail."""
        n, w = len(self.json), self.width
        t = np.full((n, len(head) + w + len(tail)), SPACE, dtype=np.uint8)
        if n == 0:
            return t
        t[:, :len(head)] = np.frombuffer(head, dtype=np.uint8)
        t[:, len(head) + w:] = np.frombuffer(tail, dtype=np.uint8)
        lens = np.fromiter(map(len, self.json), dtype=np.int64, count=n)
        flat = np.frombuffer(b"".join(self.json), dtype=np.uint8)
        # destination of every byte of every name: row i, columns head + w - len_i ...
        starts = np.arange(n, dtype=np.int64) * t.shape[1] + len(head) + w - lens
        ends = np.cumsum(lens)
        t.reshape(-1)[np.repeat(starts - (ends - lens), lens) + np.arange(len(flat))] = flat
        return t

    def names_json(self, keep: np.ndarray) -> bytes:
        """The JSON list of the names where `keep` (bool per position) is true."""
        if self._names_table is None:
            self._names_table = self._table(b"", b",")
        sel = self._names_table[keep]   # a fresh copy: its last "," can become "]"
        if not len(sel):
            return b"[]"
        return _closed(sel, b"[", 0x5D)

    def priorities_json(self, scores: np.ndarray) -> bytes:
        """HostPriorityList: [{"Host": name, "Score": s}, ...] in the request's order, scores 0..10."""
        if not len(self.json):
            return b"[]"
        if self._prio_table is None:
            self._prio_table = self._table(b'{"Host":', b',"Score":  },')
        t = self._prio_table.copy()
        c = t.shape[1] - 4
        t[:, c:c + 2] = _DIGITS[scores]
        return _closed(t, b"[", 0x5D)

    def failed_json(self, positions: np.ndarray, reason_json: list[bytes], rids: np.ndarray) -> bytes:
        """A FailedNodesMap {name: reason} of the names at `positions`, reasons by id into `reason_json`
        (one fixed-width block per distinct reason: a JSON object's keys have no order)."""
        if not len(positions):
            return b"{}"
        if self._keys_table is None:
            self._keys_table = self._table(b"", b":")
        keys = self._keys_table
        blocks = []
        for r in np.unique(rids).tolist():
            sel = keys[positions[rids == r]]
            tail = np.frombuffer(reason_json[r] + b",", dtype=np.uint8)
            block = np.empty((len(sel), keys.shape[1] + len(tail)), dtype=np.uint8)
            block[:, :keys.shape[1]] = sel
            block[:, keys.shape[1]:] = tail
            blocks.append(block)
        blocks[-1].reshape(-1)[-1] = 0x7D   # "}" over the last ","
        return b"".join([b"{", *blocks])   # one copy: join reads the arrays' buffers

    def passed(self, keep: np.ndarray) -> list[str]:
        return list(compress(self.names, keep.tolist()))
