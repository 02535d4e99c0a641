import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_BENCH = REPO.parent / "shared" / "data" / "benchmarks"

# Tests read the benchmark files from ../shared/data/benchmarks unless told otherwise.
os.environ.setdefault("POLARIS_BENCHMARKS_DIR", str(SHARED_BENCH))


@pytest.fixture
def bench_dir() -> Path:
    d = Path(os.environ["POLARIS_BENCHMARKS_DIR"])
    assert d.is_dir(), f"benchmark directory {d} missing"
    return d
