"""Fixed costs vs steady-state replay CPU in one process: imports, a tiny trace (kernel load), then TRACE.

    python benchmarks/sim_steady.py TRACE OUT_DIR [TINY_TRACE]

TINY_TRACE (default /tmp/tr4/tiny) is e.g. `kpack gen --nodes 10 --pods 10 --seed 1`: replaying it first loads
the compiled kernels, so the CPU seconds of TRACE are the steady-state replay.
"""
import json
import resource
import sys
import time

c_start = time.process_time()
import kpack.cli  # noqa: E402, F401  (timed: the imports of `kpack simulate`)
from kpack.sim.metrics import write_outputs  # noqa: E402
from kpack.sim.replay import Replay, SimOptions  # noqa: E402

c_import = time.process_time() - c_start
trace, out = sys.argv[1], sys.argv[2]
c0 = time.process_time()
Replay(sys.argv[3] if len(sys.argv) > 3 else "/tmp/tr4/tiny", SimOptions(seed=0)).run(out + "-tiny")
c_tiny = time.process_time() - c0
c0, w1 = time.process_time(), time.perf_counter()
res = Replay(trace, SimOptions(seed=0)).run(out)
c_run = time.process_time() - c0
c0 = time.process_time()
write_outputs(res, out)
c_out = time.process_time() - c0
ev = res.summary["events"]
print(json.dumps({"trace": trace, "events": ev, "cpu_import_s": c_import, "cpu_tiny_replay_s": c_tiny,
                  "cpu_replay_s": c_run, "cpu_write_s": c_out, "replay_events_per_cpu_s": ev / c_run,
                  "wall_replay_s": time.perf_counter() - w1,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
