"""pytest-benchmark suites for kpack's scenarios; run with `pytest benchmarks/` (not part of `pytest tests/`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
