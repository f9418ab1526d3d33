"""Trace-driven simulation: the Parquet trace format, generator, importers, replay, metrics and reports."""
