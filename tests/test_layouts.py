"""Memory layouts: views of every kind, ``out=`` of every kind, in-place and
overlapping output, and no hidden copies of the input."""

import tracemalloc

import numpy as np
import pytest

import reference
from checks import (FLOAT_DTYPES, OPS, assert_result_matches_reference, fill_pattern,
                    normal_rows)
from ulp import assert_log_close


def _result_shape(op, shape, axis, keepdims=False):
    if op != "logsumexp":
        return shape
    axes = reference.reduced_axes(len(shape), axis)
    if keepdims:
        return tuple(1 if d in axes else s for d, s in enumerate(shape))
    return tuple(s for d, s in enumerate(shape) if d not in axes)


# Each layout turns a fresh C-order base array into a view with the same
# kind of strides a user might hand over.
LAYOUTS = {
    "C": lambda a: a,
    "F": np.asfortranarray,
    "transposed": lambda a: a.T,
    "stepped": lambda a: a[::2, ::3],
    "negative-stepped": lambda a: a[::-1, ::-2],
    "both-negative-transposed": lambda a: a[::-3, ::-1].T,
    "column-slice": lambda a: a[:, 5:40],          # rows not contiguous with each other
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_views_of_any_layout(sc, isa, rng, op, dtype, axis, layout):
    x = LAYOUTS[layout](normal_rows(rng, (24, 66), dtype))
    assert_result_matches_reference(op, x, getattr(sc, op)(x, axis=axis), axis=axis)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("op", OPS)
def test_three_d_views_with_unmergeable_outer_axes(sc, isa, rng, op, axis):
    # Outer axes that cannot be merged into one stride must be iterated.
    base = normal_rows(rng, (6, 10, 14), np.float32)
    x = base[::2, ::-3, 1::2].transpose(1, 0, 2)
    assert_result_matches_reference(op, x, getattr(sc, op)(x, axis=axis), axis=axis)


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("op", OPS)
def test_zero_stride_broadcast_input(sc, isa, rng, op, axis):
    row = normal_rows(rng, (33,), np.float64)
    x = np.broadcast_to(row, (5, 33))          # stride 0 along axis 0, read-only
    assert_result_matches_reference(op, x, getattr(sc, op)(x, axis=axis), axis=axis)


@pytest.mark.parametrize("op", OPS)
def test_read_only_input(sc, rng, op):
    x = normal_rows(rng, (4, 9), np.float32)
    x.flags.writeable = False
    assert_result_matches_reference(op, x, getattr(sc, op)(x))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_unaligned_input(sc, rng, op, dtype):
    # A float view starting one byte into a buffer (issue 6 asks this too).
    values = normal_rows(rng, (5, 17), dtype)
    raw = np.zeros(values.nbytes + 1, dtype=np.uint8)
    x = raw[1:].view(dtype).reshape(values.shape)
    x[...] = values
    assert not x.flags.aligned
    assert_result_matches_reference(op, x, getattr(sc, op)(x))


# --------------------------------------------------------------------------
# out=
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_contiguous_out_is_returned_and_matches_allocating_call(sc, isa, rng, op, dtype):
    x = normal_rows(rng, (7, 50), dtype)
    out = np.empty(_result_shape(op, x.shape, -1), dtype=dtype)
    got = getattr(sc, op)(x, out=out)
    assert got is out
    np.testing.assert_array_equal(out, getattr(sc, op)(x))


def _strided_out(shape, dtype, steps):
    """A view with the given (possibly negative) steps into a sentinel-filled
    buffer, plus the buffer and a mask of the elements the view covers."""
    big_shape = tuple(s * abs(k) + 1 for s, k in zip(shape, steps))
    buf = fill_pattern(big_shape, dtype)
    index = tuple(slice(0, s * k, k) if k > 0 else slice(-1, -1 + s * k, k)
                  for s, k in zip(shape, steps))
    view = buf[index]
    assert view.shape == tuple(shape)
    covered = np.zeros(big_shape, dtype=bool)
    covered[index] = True
    return view, buf, covered


@pytest.mark.parametrize("steps", [(2, 3), (-1, 2), (3, -2), (-2, -1)])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_strided_out_writes_only_its_view(sc, isa, rng, op, dtype, axis, steps):
    x = normal_rows(rng, (9, 21), dtype)
    out, buf, covered = _strided_out(x.shape, dtype, steps)
    got = getattr(sc, op)(x, axis=axis, out=out)
    assert got is out
    assert_result_matches_reference(op, x, out, axis=axis)
    np.testing.assert_array_equal(buf[~covered], fill_pattern(1, dtype)[0],
                                  err_msg="wrote outside the out view")


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("step", [2, -3])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_strided_out_for_logsumexp(sc, isa, rng, dtype, axis, step, keepdims):
    x = normal_rows(rng, (9, 21), dtype)
    shape = _result_shape("logsumexp", x.shape, axis, keepdims)
    steps = tuple(step if s > 1 else 1 for s in shape)
    out, buf, covered = _strided_out(shape, dtype, steps)
    got = sc.logsumexp(x, axis=axis, keepdims=keepdims, out=out)
    assert got is out
    want = reference.logsumexp(x, axis=axis, keepdims=keepdims)
    assert_log_close(out, want, x.shape[axis], 16, op="logsumexp")
    np.testing.assert_array_equal(buf[~covered], fill_pattern(1, dtype)[0],
                                  err_msg="wrote outside the out view")


@pytest.mark.parametrize("op", OPS)
def test_fortran_out_for_c_input(sc, isa, rng, op):
    x = normal_rows(rng, (12, 40, 3), np.float64)
    shape = _result_shape(op, x.shape, 1)
    out = np.asfortranarray(fill_pattern(shape, np.float64))
    assert getattr(sc, op)(x, axis=1, out=out) is out
    assert_result_matches_reference(op, x, out, axis=1)


# --------------------------------------------------------------------------
# in place and overlapping out
# --------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["C", "F", "negative-stepped"])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_in_place(sc, isa, rng, op, dtype, axis, layout):
    x = LAYOUTS[layout](normal_rows(rng, (16, 70), dtype))
    original = x.copy()
    separate = getattr(sc, op)(x, axis=axis, out=np.empty_like(x))
    got = getattr(sc, op)(x, axis=axis, out=x)
    assert got is x
    assert_result_matches_reference(op, original, x, axis=axis)
    np.testing.assert_array_equal(x, separate)


def _overlap_cases(n_rows, n):
    """(x, out) pairs that view the same buffer in overlapping ways."""
    def shifted_down(buf):        # out row i is input row i + 1
        return buf[1:], buf[:-1]

    def shifted_up(buf):          # out row i + 1 is input row i: naive order corrupts
        return buf[:-1], buf[1:]

    def rows_reversed(buf):
        x = buf[:-1]
        return x, x[::-1]

    def row_elements_reversed(buf):
        x = buf[:-1]
        return x, x[:, ::-1]

    def half_element_shift(buf):  # out starts in the middle of input's first row
        flat = buf.reshape(-1)
        x = flat[: n_rows * n].reshape(n_rows, n)
        return x, flat[n // 2: n // 2 + n_rows * n].reshape(n_rows, n)

    return {"shifted-down-a-row": shifted_down, "shifted-up-a-row": shifted_up,
            "rows-reversed": rows_reversed, "elements-reversed": row_elements_reversed,
            "half-row-shift": half_element_shift}


@pytest.mark.parametrize("threads", [None, 2])
@pytest.mark.parametrize("case", list(_overlap_cases(1, 1)))
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_overlapping_out_equals_separate_out(sc, isa, rng, op, dtype, axis, case, threads):
    n_rows, n = 40, 37
    buf = normal_rows(rng, (n_rows + 1, n), dtype)
    x, out = _overlap_cases(n_rows, n)[case](buf)
    assert np.shares_memory(x, out)
    original = x.copy()
    # the same values in memory of their own (x and original are both C-order)
    separate = getattr(sc, op)(original, axis=axis, threads=threads)
    got = getattr(sc, op)(x, axis=axis, out=out, threads=threads)
    assert got is out
    assert_result_matches_reference(op, original, out, axis=axis)
    np.testing.assert_array_equal(out, separate)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_out_is_the_transpose_of_the_input(sc, isa, rng, op):
    x = normal_rows(rng, (33, 33), np.float32)
    original = x.copy()
    out = x.T
    assert getattr(sc, op)(x, axis=-1, out=out) is out
    assert_result_matches_reference(op, original, out, axis=-1)


@pytest.mark.parametrize("axis, out_of", [(-1, lambda x: x[:, 0]), (-1, lambda x: x[::-1, 3]),
                                          (0, lambda x: x[0]), (0, lambda x: x[2, ::-1])])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_logsumexp_out_inside_the_input(sc, isa, rng, dtype, axis, out_of):
    x = normal_rows(rng, (21, 21), dtype)
    original = x.copy()
    out = out_of(x)
    got = sc.logsumexp(x, axis=axis, out=out)
    assert got is out
    want = reference.logsumexp(original, axis=axis)
    assert_log_close(out, want, 21, 16, op="logsumexp")
    np.testing.assert_array_equal(out, sc.logsumexp(original, axis=axis))


# --------------------------------------------------------------------------
# no hidden copies of the input
# --------------------------------------------------------------------------

def _peak_numpy_allocation(fn):
    """Peak bytes allocated through Python/NumPy allocators while fn runs.
    NumPy reports its data buffers to tracemalloc, so a hidden copy of the
    input (ascontiguousarray, astype, ...) shows up here."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


@pytest.mark.parametrize("layout", ["F", "transposed", "stepped", "negative-stepped",
                                    "column-slice"])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_no_copy_of_a_strided_input(sc, op, dtype, axis, layout):
    x = LAYOUTS[layout](np.ones((2048, 1200), dtype=dtype))
    out = np.empty(_result_shape(op, x.shape, axis), dtype=dtype)
    fn = getattr(sc, op)
    fn(x, axis=axis, out=out)                 # warm up caches and lazy imports
    peak = _peak_numpy_allocation(lambda: fn(x, axis=axis, out=out))
    # Extra memory may be O(number of rows) (~16 kB here); a copy is x.nbytes
    # (>= 2.4 MB here).
    assert peak < x.nbytes / 4, f"{peak} bytes allocated for a {x.nbytes}-byte input"


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_no_copy_in_place(sc, op):
    x = np.ones((2048, 1200), dtype=np.float32)[:, ::-1]
    fn = getattr(sc, op)
    peak = _peak_numpy_allocation(lambda: fn(x, axis=0, out=x))
    assert peak < x.nbytes / 4, f"{peak} bytes allocated for in-place on {x.nbytes} bytes"


# Axis 0 of arrays tall enough that one column group's walk touches more
# pages than the TLB holds: column mode then runs in two phases, every
# group's statistics, then the output step by step across the whole line,
# split among threads by steps (smc_col_two_phase in src/core/internal.h).  600
# columns: two full groups of float32 (256 lanes) and a partial one; four
# full groups of float64 (128 lanes) and a partial one.
TALL_OUTS = {
    "separate": lambda x: np.empty_like(x),
    "in-place": lambda x: x,
    "wider-rows": lambda x: np.empty((x.shape[0], x.shape[1] + 40), x.dtype)[:, 17:17 + x.shape[1]],
}


@pytest.mark.parametrize("x_kind", ["C", "reversed-steps", "slice-of-wider"])
@pytest.mark.parametrize("out_kind", list(TALL_OUTS))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_axis0_of_tall_arrays(sc, isa, rng, op, dtype, out_kind, x_kind):
    if x_kind == "slice-of-wider":
        # 2100 steps a page or more apart, but few enough elements that,
        # without AVX-512, softmax first stores exp(x - max) in y and the
        # second phase only scales it
        x = normal_rows(rng, (2100, 1100), dtype)[:, 50:650]
    else:
        x = normal_rows(rng, (4100, 600), dtype)
    if x_kind == "reversed-steps":
        x = x[::-1]
    original = x.copy()
    one_thread = getattr(sc, op)(original, axis=0, threads=1)
    out = TALL_OUTS[out_kind](x)
    got = getattr(sc, op)(x, axis=0, out=out, threads=2)
    assert got is out
    assert_result_matches_reference(op, original, got, axis=0)
    # whatever the thread count and output layout, the same bits
    np.testing.assert_array_equal(got.view(np.uint8), one_thread.view(np.uint8))
