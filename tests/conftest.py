"""Test-wide settings: compiled code is cached in a fresh directory per test run,
so the tests neither read nor fill the user's cache; tests marked `slow` (long
fuzzing and memory runs) run only with --runslow; tests marked `cuda` skip, saying
why, where there is no GPU (or no pycuda or driver)."""

from __future__ import annotations

import os
import tempfile

import pytest

from tc import tiering

os.environ.setdefault("TC_CACHE_DIR", tempfile.mkdtemp(prefix="tc-test-cache-"))


@pytest.fixture(autouse=True)
def _optimised_code_finished():  # type: ignore[no-untyped-def]
    """No test's code is still being optimised in the background (tc/tiering.py) when the
    next test starts, which may count compilations or time its calls. Optimisations not yet
    started stay so: starting them would optimise every test's quick code, which its few
    calls never paid for (seconds of LLVM after some tests)."""
    yield
    tiering.wait_for_started()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The process's exit would optimise every quick module still alive (tc/tiering.py), for a
    next process to load: the tests' caches of compiled functions hold hundreds, 30 s of LLVM."""
    tiering.skip_pending()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run the tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("cuda" in item.keywords for item in items):
        missing = _missing_gpu()
        if missing:
            for item in items:
                if "cuda" in item.keywords:
                    item.add_marker(pytest.mark.skip(reason=f"no GPU: {missing}"))
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _missing_gpu() -> str | None:
    """Why the tests marked `cuda` cannot run here (None: they can)."""
    from tc.ir import TcDeviceError
    from tc.runtime.cuda import cuda_context

    try:
        cuda_context()
    except TcDeviceError as err:
        return str(err)
    return None
