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


def pytest_addoption(parser):
    parser.addoption("--e2e-seed", type=int, default=None,
                     help="run seed of the end-to-end training tests' tiny runs (default: "
                          "$POLARIS_E2E_SEED, else the tier's seed)")


@pytest.fixture(scope="session")
def e2e_seed(request):
    """The ``seed`` override of the e2e tests' tiny runs: ``pytest --e2e-seed 7`` (or
    ``POLARIS_E2E_SEED=7``); None keeps the tier's seed."""
    s = request.config.getoption("--e2e-seed")
    if s is None and os.environ.get("POLARIS_E2E_SEED"):
        s = int(os.environ["POLARIS_E2E_SEED"])
    return s
