"""`kpack bench`: run scenarios through kpack's engines and the baselines in one process run, check that
placements agree, and report pods/s (median, min-max), time, peak memory and ratios.

Engines measured per scenario and mode (exhaustive = percentageOfNodesToScore 100, sampled = upstream's
adaptive default):
* `kpack (auto: X)` Scheduler(engine="auto").schedule_arrays on a cluster built from arrays (timed); X is the
                    engine auto chose (engines/__init__.py);
* `kpack-indexed`, `kpack-native`, `kpack-blocked`: the same call with each other engine (same pods);
* `kpack-numba` the same call with engine="numba" (cycle.schedule, the Numba node scan);
* `numpy`           per-pod vectorised NumPy (numpy_baseline.py), on a prefix of the pods;
* `python-ref`      tests/reference.py (pure Python oracle), on a shorter prefix, when importable.
Every baseline's placements on its prefix are compared with kpack (auto)'s first placements (placement is
sequential, so a prefix of a run equals a run on the prefix).

Peak memory: peak resident set size (VmHWM from /proc/self/status) of a fresh child process that builds the
scenario and runs kpack (auto) once; it includes the interpreter, NumPy and Numba (~150-200 MB).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from . import scenarios as S

# Pods measured per engine (None = all). Slow baselines run on a prefix; big scenarios on a prefix too.
PREFIX = {"numpy": 1000, "python-ref": 25, "kpack-numba": 2000, "kpack-blocked": 2000}
# Heterogeneous is measured on a prefix of its 1,000,000 pods, one run (see RESULTS.md for why).
SCENARIO_LIMIT = {"Heterogeneous/100000Nodes/1000000Pods": {"kpack-numba": 1000, "kpack": 10000,
                                                             "kpack-native": 10000, "kpack-blocked": 2000,
                                                             "numpy": 100, "python-ref": 2, "runs": 1}}
MAIN_ENGINE = "auto"     # the row every baseline is compared with: Scheduler's default engine


@dataclass
class Row:
    scenario: str
    mode: str
    engine: str
    pods: int
    runs: int
    pods_per_s: float
    pods_per_s_min: float
    pods_per_s_max: float
    time_s: float
    placed: int = -1
    peak_rss_mb: Optional[float] = None
    same_placements: Optional[str] = None
    note: str = ""
    ratios: dict = field(default_factory=dict)


def _reference_module():
    """tests/reference.py from a source checkout, or None."""
    here = Path(__file__).resolve()
    for root in (here.parents[3], Path.cwd()):
        f = root / "tests" / "reference.py"
        if f.exists():
            import importlib.util
            spec = importlib.util.spec_from_file_location("kpack_tests_reference", f)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod      # dataclasses need the module registered
            try:
                spec.loader.exec_module(mod)
            except Exception:   # pragma: no cover - a half-written oracle must not break the bench
                return None
            return mod if hasattr(mod, "ReferenceScheduler") else None
    return None


def _limit(scenario: str, engine: str, default: Optional[int]) -> Optional[int]:
    if scenario in S.TOPOLOGY_SCENARIOS:
        from .topology_scenarios import BENCH_LIMITS
        default = BENCH_LIMITS.get(engine, default)
    return SCENARIO_LIMIT.get(scenario, {}).get(engine, default)


def run_kpack(sc: S.Scenario, exhaustive: bool, engine: str, n_pods: Optional[int] = None, seed: int = 0):
    """Build the cluster from arrays and schedule (both timed). Returns (seconds, result, stats)."""
    from ..batch import PodBatch
    from ..scheduler import Scheduler
    batch = PodBatch(sc.specs, sc.spec_index if n_pods is None else sc.spec_index[:n_pods])
    s = Scheduler(S.profile(exhaustive), seed=seed, engine=engine)   # configuration, not timed
    t0 = time.perf_counter()
    cluster = sc.cluster()
    res = s.schedule_arrays(cluster, batch)
    return time.perf_counter() - t0, res, s.last_stats


def run_numpy(sc: S.Scenario, exhaustive: bool, n_pods: int, seed: int = 0):
    from ..topology.engine import needed
    from .numpy_baseline import NumpyScheduler
    from .numpy_topology import NumpyTopologyScheduler
    cluster = sc.cluster()
    prof = S.profile(exhaustive)
    # Scenarios where PodTopologySpread / InterPodAffinity matter get the baseline that models them.
    ns = (NumpyTopologyScheduler if needed(prof, cluster, sc.specs) else NumpyScheduler)(prof, seed)
    t0 = time.perf_counter()
    out = ns.schedule(cluster, sc.specs, sc.spec_index[:n_pods])
    return time.perf_counter() - t0, out


def run_python_ref(mod, sc: S.Scenario, exhaustive: bool, n_pods: int, nodes, bound, seed: int = 0):
    ref = mod.ReferenceScheduler(S.profile(exhaustive), seed)
    pods = sc.pods(n_pods)
    t0 = time.perf_counter()
    names, _ = ref.schedule(nodes, bound, pods, sc.objects)
    dt = time.perf_counter() - t0
    idx = {n: i for i, n in enumerate(sc.node_names)}
    return dt, np.array([idx[n] if n is not None else -1 for n in names], dtype=np.int32)


def _row(scenario, mode, engine, times, pods, **kw) -> Row:
    rates = [pods / t for t in times]
    return Row(scenario, mode, engine, pods, len(times), statistics.median(rates), min(rates), max(rates),
               statistics.median(times), **kw)


def peak_rss_child(name: str, exhaustive: bool, n_pods: Optional[int]) -> Optional[float]:
    """Peak RSS (MB) of a fresh process that builds the scenario and runs kpack (MAIN_ENGINE) once.

    The child reports its own VmHWM (/proc/self/status, reset by exec): the wait4 ru_maxrss of a child can
    carry the parent's resident size at fork time (seen as ~1.9 GB after the NumPy baselines had grown the
    parent).
    None where /proc/self/status is missing."""
    code = ("import sys; from kpack.bench import runner, scenarios as S; "
            f"sc = S.SCENARIOS[{name!r}](); runner.run_kpack(sc, {exhaustive}, {MAIN_ENGINE!r}, {n_pods!r}); "
            "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')] "
            "if sys.platform.startswith('linux') else []; print('VmHWM', *hwm)")
    try:
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        stdout, _ = p.communicate()
        if p.returncode != 0:
            return None
        parts = stdout.split()
        if len(parts) >= 2 and parts[-2] == "VmHWM":
            return int(parts[-1]) / 1024.0          # kB
        return None
    except (OSError, ValueError):
        return None


def bench_scenario(name: str, runs: int = 3, modes=("exhaustive", "sampled"), baselines: bool = True,
                   memory: bool = True, log=print) -> list[Row]:
    sc = S.SCENARIOS[name]()
    runs = min(runs, SCENARIO_LIMIT.get(name, {}).get("runs", runs))
    ref_mod = _reference_module() if baselines else None
    rows: list[Row] = []
    nodes = bound = None
    for mode in modes:
        ex = mode == "exhaustive"
        lim_fast = _limit(name, "kpack", None)
        # warm-up: loads the Numba cache (cold start reported apart)
        run_kpack(sc, ex, MAIN_ENGINE, lim_fast)
        times, res, stats = [], None, None
        for _ in range(runs):
            dt, res, stats = run_kpack(sc, ex, MAIN_ENGINE, lim_fast)
            times.append(dt)
        pods = len(res.node_index)
        main = res.node_index
        note = (f"prefix of {sc.n_pods:,} pods; " if pods < sc.n_pods else "")
        note += (f"{stats.engine}: {stats.indexed_pods} indexed + {stats.blocked_pods} blocked + "
                 f"{stats.scan_pods} scan")
        if stats.types:
            note += f"; {stats.types} types, {stats.buckets} buckets"
        r_fast = _row(name, mode, f"kpack ({MAIN_ENGINE}: {stats.engine})", times, pods, placed=res.scheduled,
                      note=note)
        rows.append(r_fast)
        log(f"  {name} {mode} kpack {r_fast.pods_per_s:,.0f} pods/s ({note})")
        if memory:
            r_fast.peak_rss_mb = peak_rss_child(name, ex, lim_fast)
        if not baselines:
            continue
        # Every other kpack engine on the same pods (identical decisions required).
        from .. import native
        for eng in ("indexed", "native", "blocked"):
            if eng == stats.engine or (eng == "native" and not native.available()) \
                    or stats.engine == "topology":
                continue    # (the topology path has no indexed/native/blocked variant: they refuse such pods)
            lim = _limit(name, f"kpack-{eng}", PREFIX.get(f"kpack-{eng}", lim_fast))
            if lim is not None and lim_fast is not None:
                lim = min(lim, lim_fast)
            et = []
            for _ in range(max(1, min(runs, 2))):
                dt, eres, estats = run_kpack(sc, ex, eng, lim)
                et.append(dt)
            n = len(eres.node_index)
            same = np.array_equal(eres.node_index, main[:n])
            label = f"kpack-{eng}" + ("" if estats.engine == eng else f" (-> {estats.engine})")
            rows.append(_row(name, mode, label, et, n, placed=eres.scheduled,
                             same_placements=f"{'yes' if same else 'NO'} ({n} pods)"))
            log(f"  {name} {mode} {label} {rows[-1].pods_per_s:,.0f} pods/s same={same}")
        # kpack's reference kernel (node scan).
        lim = _limit(name, "kpack-numba", PREFIX["kpack-numba"])
        rt = []
        for _ in range(max(1, min(runs, 2))):
            dt, rres, _ = run_kpack(sc, ex, "numba", lim or None)
            rt.append(dt)
        n = len(rres.node_index)
        same = np.array_equal(rres.node_index, main[:n])
        rows.append(_row(name, mode, "kpack-numba", rt, n, placed=rres.scheduled,
                         same_placements=f"{'yes' if same else 'NO'} ({n} pods)"))
        log(f"  {name} {mode} kpack-numba {rows[-1].pods_per_s:,.0f} pods/s same={same}")
        # NumPy baseline on a prefix.
        n = min(pods, _limit(name, "numpy", PREFIX["numpy"]))
        nt, out = [], None
        for _ in range(max(1, min(runs, 3))):
            dt, out = run_numpy(sc, ex, n)
            nt.append(dt)
        same = np.array_equal(out, main[:n])
        rows.append(_row(name, mode, "numpy", nt, n, placed=int((out >= 0).sum()),
                         same_placements=f"{'yes' if same else 'NO'} ({n} pods)"))
        log(f"  {name} {mode} numpy {rows[-1].pods_per_s:,.0f} pods/s same={same}")
        # Pure-Python oracle on a shorter prefix (its topology plugins recount every node per node: O(N^2) a
        # pod, far too slow at 5,000 nodes; tests/test_topology_vs_reference.py compares them on small
        # clusters).
        if ref_mod is not None and stats.engine == "topology":
            rows.append(Row(name, mode, "python-ref", 0, 0, float("nan"), float("nan"), float("nan"),
                            float("nan"), note="skipped: O(N^2) per pod with topology plugins at this size"))
        elif ref_mod is None:
            rows.append(Row(name, mode, "python-ref", 0, 0, float("nan"), float("nan"), float("nan"),
                            float("nan"), note="tests/reference.py not importable: skipped"))
        else:
            if nodes is None:
                nodes, bound = sc.nodes(), sc.bound_pods()
            n = min(pods, _limit(name, "python-ref", PREFIX["python-ref"]))
            dt, out = run_python_ref(ref_mod, sc, ex, n, nodes, bound)
            same = np.array_equal(out, main[:n])
            rows.append(_row(name, mode, "python-ref", [dt], n, placed=int((out >= 0).sum()),
                             same_placements=f"{'yes' if same else 'NO'} ({n} pods)"))
            log(f"  {name} {mode} python-ref {rows[-1].pods_per_s:,.1f} pods/s same={same}")
        base = {r.engine: r.pods_per_s for r in rows if r.scenario == name and r.mode == mode}
        for r in rows:
            if r.scenario == name and r.mode == mode:
                for b in ("numpy", "python-ref", "kpack-numba"):
                    if b in base and base[b] == base[b] and base[b] > 0 and r.engine != b:
                        r.ratios[b] = r.pods_per_s / base[b]
    return rows


def cold_start() -> dict:
    """Import + first schedule in a fresh process on a warm Numba cache, and with an empty cache (first-ever
    compile), on a small SchedulingBasic (100 nodes, 200 pods, so both engines run)."""
    import tempfile
    code = ("import time; t0 = time.perf_counter(); import kpack; t1 = time.perf_counter(); "
            "from kpack.bench import scenarios as S; from kpack.batch import PodBatch; "
            "sc = S.scheduling_basic(100, 200, 20); c = sc.cluster(); "
            "r = kpack.Scheduler().schedule(c, sc.pods()); t2 = time.perf_counter(); "
            "print(t1 - t0, t2 - t1)")
    out = {}
    for label, env in (("warm", dict(os.environ)), ("cold", None)):
        if env is None:
            tmp = tempfile.mkdtemp(prefix="kpack-numba-cache-")
            env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode == 0:
            imp, first = map(float, p.stdout.split()[-2:])
            out[label] = {"import_s": imp, "first_schedule_s": first, "process_wall_s": wall}
        else:
            out[label] = {"error": p.stderr.strip().splitlines()[-1] if p.stderr else "failed"}
    return out


def format_table(rows: list[Row]) -> str:
    head = ("scenario", "mode", "engine", "pods", "pods/s median (min-max)", "time", "peak RSS", "x numpy",
            "x python-ref", "same placements")
    lines = []
    for r in rows:
        if r.pods == 0:
            lines.append((r.scenario, r.mode, r.engine, "-", r.note, "-", "-", "-", "-", "-"))
            continue
        rate = (f"{r.pods_per_s:,.0f} ({r.pods_per_s_min:,.0f}-{r.pods_per_s_max:,.0f})"
                if r.pods_per_s >= 100
                else f"{r.pods_per_s:,.1f} ({r.pods_per_s_min:,.1f}-{r.pods_per_s_max:,.1f})")
        mem = f"{r.peak_rss_mb:,.0f} MB" if r.peak_rss_mb else "-"
        xn = f"{r.ratios['numpy']:,.0f}x" if "numpy" in r.ratios else "-"
        xp = f"{r.ratios['python-ref']:,.0f}x" if "python-ref" in r.ratios else "-"
        lines.append((r.scenario, r.mode, r.engine, f"{r.pods:,}", rate, f"{r.time_s:.3f} s", mem, xn, xp,
                      r.same_placements or "(is the reference)"))
    widths = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head))]
    fmt = " | ".join("{:<%d}" % w for w in widths)
    out = [fmt.format(*head), "-+-".join("-" * w for w in widths)]
    out += [fmt.format(*map(str, x)) for x in lines]
    return "\n".join(out)


def main_run(scenarios: list[str], runs: int, as_json: bool, quiet: bool, baselines: bool = True,
             memory: bool = True, with_cold_start: bool = True) -> int:
    log = (lambda *a, **k: None) if quiet or as_json else (lambda *a, **k: print(*a, file=sys.stderr, **k))
    rows: list[Row] = []
    for name in scenarios:
        log(f"{name} ...")
        rows.extend(bench_scenario(name, runs=runs, baselines=baselines, memory=memory, log=log))
    cold = cold_start() if with_cold_start else {}
    if as_json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "cold_start": cold,
                          "peak_memory": "peak RSS of a child process (its VmHWM)"}, indent=1, default=str))
    else:
        print(format_table(rows))
        for k, v in cold.items():
            if "error" in v:
                print(f"cold start ({k} cache): error: {v['error']}")
            else:
                print(f"cold start ({k} Numba cache): import {v['import_s']:.2f} s + first schedule "
                      f"{v['first_schedule_s']:.2f} s = {v['import_s'] + v['first_schedule_s']:.2f} s")
    bad = [r for r in rows if r.same_placements and r.same_placements.startswith("NO")]
    return 1 if bad else 0
