"""Benchmark scenarios (upstream scheduler_perf names), the NumPy baseline and the `kpack bench` runner."""
