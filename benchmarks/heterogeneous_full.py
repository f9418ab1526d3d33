"""The full Heterogeneous/100000Nodes/1000000Pods run, end to end (cluster from arrays + classes + placement +
reasons), which `kpack bench` only samples on a 10,000-pod prefix.

    python benchmarks/heterogeneous_full.py [ENGINE]      # ENGINE: auto (default), native, indexed, reference
"""
import resource
import sys

from kpack.bench import runner, scenarios as S


def main() -> None:
    engine = sys.argv[1] if len(sys.argv) > 1 else "auto"
    sc = S.heterogeneous()
    runner.run_kpack(sc, False, engine, 100)                 # warm the kernels
    dt, res, stats = runner.run_kpack(sc, False, engine, None)
    unexplained = sum(1 for i, r in enumerate(res.reasons) if res.node_index[i] < 0 and not r)
    print(f"engine={engine} pods={len(res.node_index)} placed={res.scheduled} unexplained={unexplained} "
          f"time={dt:.1f}s rate={len(res.node_index) / dt:,.0f}/s "
          f"peakRSS={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}MB {stats}")


if __name__ == "__main__":
    main()
