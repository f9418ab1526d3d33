"""Per-pod vectorised NumPy baseline (the implementation lives in the package so `kpack bench` can use it
from an installed kpack): see kpack/bench/numpy_baseline.py."""
from kpack.bench.numpy_baseline import NumpyScheduler, schedule  # noqa: F401
