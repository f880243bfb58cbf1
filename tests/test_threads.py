"""Threads: results are bitwise identical whatever the thread count (issue 3:
chunking must not depend on it), and the long-row accuracy of issue 3."""

import threading

import numpy as np
import pytest

import reference
from checks import FLOAT_DTYPES, LOG_ULP, OPS, normal_rows
from ulp import assert_log_close, assert_softmax_close

LONG = 4_194_304


def _assert_bitwise_equal(a, b, what):
    # NaN-aware and sign-of-zero-aware: compare the bits themselves
    assert a.shape == b.shape and a.dtype == b.dtype, what
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), (
        f"{what}: {np.count_nonzero(a != b)} elements differ")


def _results_for_thread_counts(fn, x, axis, counts=(1, 2, None, 7)):
    return {t: fn(x, axis=axis, threads=t) for t in counts}


@pytest.mark.parametrize("shape, axis", [((2048, 1024), -1), ((1024, 2048), 0),
                                         ((65536, 10), -1), ((64, 16, 300), 1)],
                         ids=["rows", "axis0", "short-rows", "middle-axis"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_many_rows_bitwise_identical_for_any_thread_count(sc, isa, rng, op, dtype, shape, axis):
    x = normal_rows(rng, shape, dtype)
    results = _results_for_thread_counts(getattr(sc, op), x, axis)
    for t, r in results.items():
        _assert_bitwise_equal(r, results[1], f"threads={t} vs threads=1")


@pytest.fixture(scope="module")
def long_row():
    """One row of 4M float32 values, N(0, 3^2) (issue 7's 4M-row workload),
    with its longdouble references computed once."""
    rng = np.random.default_rng(4_194_304)
    x = (rng.standard_normal((1, LONG)) * 3.0).astype(np.float32)
    return {
        "x": x,
        "softmax": reference.softmax(x),
        "log_softmax": reference.log_softmax(x),
        "logsumexp": reference.logsumexp(x),
    }


@pytest.mark.parametrize("op", OPS)
def test_single_long_row_bitwise_identical_for_any_thread_count(sc, isa, long_row, op):
    # A single row is split into fixed-size chunks whose (max, sum) partials
    # are merged; the chunking must not depend on the number of threads.
    results = _results_for_thread_counts(getattr(sc, op), long_row["x"], -1)
    for t, r in results.items():
        _assert_bitwise_equal(r, results[1], f"threads={t} vs threads=1")


def test_float32_softmax_of_4m_row_within_8_ulp(sc, isa, long_row):
    # Issue 3: float32 softmax of one 4,194,304-element row within 8 ulp of a
    # float64 reference (longdouble here), for every thread count.
    for threads in (1, 2):
        got = sc.softmax(long_row["x"], threads=threads)
        assert_softmax_close(got, long_row["softmax"], 8, op="softmax(4M row)",
                             what=f"softmax 4M row, threads={threads}")


@pytest.mark.parametrize("op", ["log_softmax", "logsumexp"])
def test_float32_logs_of_4m_row(sc, isa, long_row, op):
    # Issue 2's log bound: 16 ulp of (|value| + log(n) + 1), at any length.
    got = getattr(sc, op)(long_row["x"], threads=2)
    assert_log_close(got, long_row[op], LONG, LOG_ULP, op=f"{op}(4M row)")


@pytest.mark.parametrize("op", OPS)
def test_float64_long_row_bitwise_identical_for_any_thread_count(sc, isa, rng, op):
    x = normal_rows(rng, (1, 1 << 20), np.float64)
    results = _results_for_thread_counts(getattr(sc, op), x, -1, counts=(1, 2, None))
    for t, r in results.items():
        _assert_bitwise_equal(r, results[1], f"threads={t} vs threads=1")


@pytest.mark.parametrize("op", OPS)
def test_set_num_threads_does_not_change_results(sc, rng, op):
    x = normal_rows(rng, (3, 300_000), np.float32)
    before = sc.cpu_info()["num_threads"]
    try:
        sc.set_num_threads(1)
        one = getattr(sc, op)(x)
        sc.set_num_threads(2)
        two = getattr(sc, op)(x)
    finally:
        sc.set_num_threads(before)
    _assert_bitwise_equal(two, one, "set_num_threads(2) vs (1)")


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_threads_with_out_and_strided_views(sc, isa, rng, op):
    x = normal_rows(rng, (600, 900), np.float32)[::-1, ::2]
    outs = {t: np.empty(x.shape, np.float32)[:, ::-1] for t in (1, 2)}
    for t, out in outs.items():
        assert getattr(sc, op)(x, axis=0, out=out, threads=t) is out
    _assert_bitwise_equal(np.ascontiguousarray(outs[2]), np.ascontiguousarray(outs[1]),
                          "threads=2 vs 1 into strided out")


def test_concurrent_python_threads_get_single_threaded_results(sc, rng):
    # Several Python threads calling at once (the GIL is released in the
    # kernels) must not disturb each other's results.
    x = normal_rows(rng, (256, 1024), np.float32)
    expected = {op: getattr(sc, op)(x) for op in OPS}
    failures = []

    def work(op):
        for _ in range(5):
            if not np.array_equal(getattr(sc, op)(x, threads=2), expected[op]):
                failures.append(op)

    workers = [threading.Thread(target=work, args=(op,)) for op in OPS * 2]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures, f"results changed under concurrency: {failures}"
