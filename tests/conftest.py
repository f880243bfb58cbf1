"""Shared fixtures: run the correctness tests once per kernel variant (ISA).

softmax_c picks the best kernel variant for the CPU at import; a test
machine left alone would only ever exercise that one.  The ``isa`` fixture
switches the active variant with ``softmax_c.set_isa`` for every variant the
CPU can run, and restores the previous one afterwards.

Nothing is skipped: if softmax_c cannot be imported, every test that needs it
fails with the import error (the reference self-tests still run).
"""

import faulthandler
import zlib

import numpy as np
import pytest

import ulp

try:
    import softmax_c
    _IMPORT_ERROR = None
except ImportError as exc:          # reported by every test that needs it
    softmax_c = None
    _IMPORT_ERROR = exc


# A deadlock in a kernel or the thread pool must fail the run loudly (with
# every thread's traceback) instead of hanging CI forever.  No single test
# here needs more than a few seconds.
WATCHDOG_SECONDS = 120


@pytest.fixture(autouse=True)
def _hang_watchdog():
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _variants():
    if softmax_c is None:
        return ["unimportable"]
    return list(softmax_c.cpu_info()["available"])


@pytest.fixture(params=_variants())
def isa(request):
    """Activate one kernel variant for the duration of a test."""
    if softmax_c is None:
        pytest.fail(f"softmax_c does not import: {_IMPORT_ERROR!r}")
    previous = softmax_c.set_isa(request.param)
    ulp.CURRENT_ISA[0] = request.param
    try:
        assert softmax_c.cpu_info()["isa"] == request.param
        yield request.param
    finally:
        softmax_c.set_isa(previous)
        ulp.CURRENT_ISA[0] = "default"


@pytest.fixture
def sc():
    """The softmax_c module, or a loud failure when it does not import."""
    if softmax_c is None:
        pytest.fail(f"softmax_c does not import: {_IMPORT_ERROR!r}")
    return softmax_c


@pytest.fixture
def rng(request):
    """A generator seeded from the test id: reproducible, different per test."""
    # crc32, not hash(): str hashes are salted per process
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def pytest_report_header(config):
    if softmax_c is None:
        return f"softmax_c: NOT IMPORTABLE ({_IMPORT_ERROR!r})"
    return f"softmax_c {getattr(softmax_c, '__version__', '?')}: cpu_info={softmax_c.cpu_info()}"


def pytest_terminal_summary(terminalreporter):
    if not ulp.WORST:
        return
    terminalreporter.section("worst measured error (ulp) per op / dtype / variant")
    for (op, dtype, isa_name, measure), worst in sorted(ulp.WORST.items()):
        unit = {"rel": "relative ulp", "log": "ulp of |v|+log(n)+1",
                "terms": "ulp of the size of the terms"}.get(measure, measure)
        terminalreporter.write_line(f"{op:12s} {dtype:8s} {isa_name:10s} {worst:8.3f}  ({unit})")
