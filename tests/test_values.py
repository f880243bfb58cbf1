"""Values of every op, dtype and axis against the longdouble reference, with
the issue-2 accuracy contract as the tolerance (see checks.py), run once per
kernel variant through the ``isa`` fixture."""

import numpy as np
import pytest

import reference
from checks import (ELEMENTWISE_OPS, FLOAT_DTYPES, OPS, assert_result_matches_reference,
                    normal_rows)
from ulp import assert_log_close, assert_softmax_close

# Every axis of 1-4-D arrays, each also counted from the end, None and tuples.
# Shapes mix lengths below, at and above common vector widths (4, 8, 16).
AXIS_CASES = [
    ((37,), 0), ((37,), -1), ((37,), None), ((37,), (0,)),
    ((5, 19), 0), ((5, 19), 1), ((5, 19), -1), ((5, 19), -2), ((5, 19), None),
    ((5, 19), (0, 1)), ((5, 19), (1,)),
    ((4, 9, 33), 0), ((4, 9, 33), 1), ((4, 9, 33), 2), ((4, 9, 33), -1),
    ((4, 9, 33), -2), ((4, 9, 33), -3), ((4, 9, 33), None), ((4, 9, 33), (0, 2)),
    ((4, 9, 33), (1, 2)), ((4, 9, 33), (2, 0, 1)),
    ((3, 5, 2, 17), 0), ((3, 5, 2, 17), 1), ((3, 5, 2, 17), 2), ((3, 5, 2, 17), 3),
    ((3, 5, 2, 17), -1), ((3, 5, 2, 17), -2), ((3, 5, 2, 17), -3), ((3, 5, 2, 17), -4),
    ((3, 5, 2, 17), None), ((3, 5, 2, 17), (0, 3)), ((3, 5, 2, 17), (1, 2)),
    ((3, 5, 2, 17), (-1, -3)), ((3, 5, 2, 17), (0, 1, 2, 3)),
]


def _case_id(case):
    shape, axis = case
    return f"{'x'.join(map(str, shape))}-axis{axis}".replace(" ", "")


@pytest.mark.parametrize("shape, axis", AXIS_CASES, ids=[_case_id(c) for c in AXIS_CASES])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_op_over_axis_matches_reference(sc, isa, rng, op, dtype, shape, axis):
    x = normal_rows(rng, shape, dtype)
    got = getattr(sc, op)(x, axis=axis)
    assert_result_matches_reference(op, x, got, axis=axis)


@pytest.mark.parametrize("shape, axis", [((4, 9, 33), (0, 2)), ((3, 5, 2, 17), None)])
def test_logsumexp_keepdims_over_axes(sc, isa, rng, shape, axis):
    x = normal_rows(rng, shape, np.float64)
    got = sc.logsumexp(x, axis=axis, keepdims=True)
    want = reference.logsumexp(x, axis=axis, keepdims=True)
    assert got.shape == want.shape
    n = x.size // want.size
    assert_log_close(got, want, n, 16, op="logsumexp")


# Row lengths around every plausible vector width and unroll factor, so each
# kernel's main loop, remainder loop and masked tail all run.
ROW_LENGTHS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 255, 257, 1000, 1024]


@pytest.mark.parametrize("n", ROW_LENGTHS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_accuracy_on_normal_rows(sc, isa, rng, op, dtype, n):
    # The issue-2 workload: N(0, 4^2) rows; 48 of them to find the bad cases.
    x = normal_rows(rng, (48, n), dtype)
    assert_result_matches_reference(op, x, getattr(sc, op)(x), axis=-1)


@pytest.mark.parametrize("n", [3, 16, 100, 1024])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_accuracy_reducing_over_leading_axis(sc, isa, rng, op, dtype, n):
    # axis 0 of a C-order array: the path that vectorises across rows.
    x = normal_rows(rng, (n, 67), dtype)
    assert_result_matches_reference(op, x, getattr(sc, op)(x, axis=0), axis=0)


@pytest.mark.parametrize("shape", [(4096, 300), (4096, 600), (5000, 7)],
                         ids=["wide", "wider", "narrow"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_softmax_over_a_long_leading_axis(sc, isa, rng, dtype, shape):
    # Column groups of several MiB: the AVX-512 variant then takes two exps
    # per element instead of a third pass (col_group), and so do the others
    # on arrays of more than 8 MiB (4096x600 float32); both must be right.
    x = normal_rows(rng, shape, dtype)
    assert_result_matches_reference("softmax", x, sc.softmax(x, axis=0), axis=0)
    out = np.empty_like(x)
    sc.softmax(x, axis=0, out=out, threads=2)
    np.testing.assert_array_equal(out, sc.softmax(x, axis=0, threads=1))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_accuracy_on_rows_of_131072(sc, isa, rng, op, dtype):
    # Issue 2: 32 ulp for softmax rows up to 131072 long (16 for the logs).
    x = normal_rows(rng, (2, 131072), dtype)
    assert_result_matches_reference(op, x, getattr(sc, op)(x), axis=-1)


@pytest.mark.parametrize("n", [10, 200])
@pytest.mark.parametrize("op", OPS)
def test_float64_against_mpmath(sc, isa, rng, op, n):
    # An independent oracle for the longdouble reference, on a few rows.
    x = normal_rows(rng, (2, n), np.float64)
    got = getattr(sc, op)(x)
    for row, got_row in zip(x, got):
        if op == "softmax":
            assert_softmax_close(got_row, reference.mp_softmax_row(row), 16, op=op)
        elif op == "log_softmax":
            assert_log_close(got_row, reference.mp_log_softmax_row(row), n, 16, op=op)
        else:
            assert_log_close(got_row, reference.mp_logsumexp_row(row), n, 16, op=op)


# --------------------------------------------------------------------------
# huge magnitudes: nothing overflows or turns into NaN
# --------------------------------------------------------------------------

HUGE_CASES = [
    # (dtype, offset, scale): rows offset + scale * N(0, 1)
    (np.float32, 1e4, 4.0),        # naive exp(x) overflows float32 above ~88.7
    (np.float32, -1e4, 4.0),       # naive exp(x) underflows to 0 for every entry
    (np.float64, 700.0, 4.0),      # naive exp overflows float64 above ~709.8
    (np.float64, -800.0, 4.0),
    (np.float64, 1e4, 4.0),
    (np.float32, 0.0, 1e30),       # x - max itself is huge
    (np.float64, 0.0, 1e300),
    (np.float32, 95.0, 3.0),       # XNNPACK's case: just past float32 exp overflow
]


@pytest.mark.parametrize("dtype, offset, scale", HUGE_CASES)
@pytest.mark.parametrize("op", OPS)
def test_huge_magnitudes_are_stable(sc, isa, rng, op, dtype, offset, scale):
    x = (offset + scale * rng.standard_normal((8, 100))).astype(dtype)
    got = getattr(sc, op)(x)
    assert np.all(np.isfinite(got)) or op == "log_softmax", "overflow or NaN"
    assert not np.any(np.isnan(got))
    assert_result_matches_reference(op, x, got)


# Short rows go through the kernels a group of one row per lane at a time,
# each group in the exp mode its lanes allow (exp_mode_lanes): all rows
# negative (X_BIGGER), all positive with lo >= -max (M_BIGGER), mixed
# (TWOSUM), and beyond exp's fast range (SLOW).
@pytest.mark.parametrize("offset, scale", [(-50.0, 3.0), (50.0, 3.0), (0.0, 4.0), (0.0, 60.0),
                                           (-1e4, 4.0), (1e4, 4.0)],
                         ids=["negative", "positive", "mixed", "wide", "-1e4", "1e4"])
@pytest.mark.parametrize("n", [4, 10, 31])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_short_rows_in_every_exp_mode(sc, isa, rng, op, dtype, n, offset, scale):
    x = (offset + scale * rng.standard_normal((64, n))).astype(dtype)
    assert_result_matches_reference(op, x, getattr(sc, op)(x), axis=-1)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_extreme_finite_values(sc, isa, op, dtype):
    big = np.finfo(dtype).max
    x = np.array([[big, big, big],
                  [-big, big, 0.0],          # x - max overflows to -inf: exp gives 0
                  [-big, -big, -big],
                  [big, -big, -big]], dtype=dtype)
    got = getattr(sc, op)(x)
    assert not np.any(np.isnan(got))
    assert_result_matches_reference(op, x, got)


def test_equal_entries_give_uniform_softmax(sc, isa):
    for dtype in FLOAT_DTYPES:
        x = np.full((3, 10), 7.25, dtype=dtype)
        assert_result_matches_reference("softmax", x, sc.softmax(x))
        np.testing.assert_allclose(sc.logsumexp(x), 7.25 + np.log(10), rtol=4 * np.finfo(dtype).eps)


# --------------------------------------------------------------------------
# input conversion: dtype rules of the contract
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_])
@pytest.mark.parametrize("op", OPS)
def test_integer_and_bool_input_gives_float64(sc, rng, op, dtype):
    if dtype is np.bool_:
        x = rng.integers(0, 2, size=(6, 13)).astype(bool)
    elif np.issubdtype(dtype, np.unsignedinteger):
        x = rng.integers(0, 20, size=(6, 13)).astype(dtype)
    else:
        x = rng.integers(-10, 11, size=(6, 13)).astype(dtype)
    got = getattr(sc, op)(x)
    assert got.dtype == np.float64
    assert_result_matches_reference(op, x, got)


@pytest.mark.parametrize("op", OPS)
def test_float16_input_is_computed_and_returned_as_float32(sc, rng, op):
    x = normal_rows(rng, (6, 40), np.float16)
    got = getattr(sc, op)(x)
    assert got.dtype == np.float32
    assert_result_matches_reference(op, x, got)


@pytest.mark.parametrize("byteorder_dtype", [">f4", ">f8"] if np.little_endian else ["<f4", "<f8"])
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("op", OPS)
def test_byte_swapped_input(sc, rng, op, axis, byteorder_dtype):
    native = normal_rows(rng, (7, 21), np.dtype(byteorder_dtype).newbyteorder("="))
    swapped = native.astype(byteorder_dtype)
    got = getattr(sc, op)(swapped, axis=axis)
    # the result is the native-order float type with the same values
    assert got.dtype == native.dtype
    assert_result_matches_reference(op, swapped, got, axis=axis)
    np.testing.assert_array_equal(got, getattr(sc, op)(native, axis=axis))


@pytest.mark.parametrize("op", OPS)
def test_python_lists_are_accepted(sc, op):
    x = [[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]
    got = getattr(sc, op)(x)
    assert got.dtype == np.float64
    assert_result_matches_reference(op, x, got)
    got_int = getattr(sc, op)([[1, 2, 3], [0, -1, 4]])
    assert got_int.dtype == np.float64
    assert_result_matches_reference(op, [[1, 2, 3], [0, -1, 4]], got_int)


@pytest.mark.parametrize("op", OPS)
def test_zero_dimensional_input_with_axis_none(sc, op):
    # one element forms one row: softmax 1, log_softmax 0, logsumexp x
    got = getattr(sc, op)(np.float64(2.5), axis=None)
    expected = {"softmax": 1.0, "log_softmax": 0.0, "logsumexp": 2.5}[op]
    assert np.shape(got) == ()
    assert float(got) == expected


# --------------------------------------------------------------------------
# temperature
# --------------------------------------------------------------------------

@pytest.mark.parametrize("t", [2.0**-10, 0.25, 0.5, 2.0, 4.0, 2.0**10])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
def test_power_of_two_temperature_is_exact_division(sc, isa, rng, op, dtype, t):
    # x = t * z is exact for a power of two t, so x / t is the issue-2
    # workload z ~ N(0, 4^2) with no extra rounding: the full bound applies.
    z = normal_rows(rng, (16, 100), dtype)
    x = (z * dtype(t)).astype(dtype)
    got = getattr(sc, op)(x, temperature=t)
    assert_result_matches_reference(op, x, got, temperature=t)


@pytest.mark.parametrize("t", [0.7, 3.0, 1.0 / 3.0])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
def test_other_temperatures(sc, isa, rng, op, dtype, t):
    z = normal_rows(rng, (16, 100), dtype)
    x = (z * t).astype(dtype)
    got = getattr(sc, op)(x, temperature=t)
    # Computing x / t (or x * (1/t)) in the output dtype perturbs each logit
    # z_j by up to |z_j| * eps; softmax_i moves by |d_i - sum p_j d_j| <=
    # 2 max|z| eps relative, i.e. <= 4 max|z| ulp (1 ulp >= eps/2 relative),
    # and log_softmax by the same absolute amount (scale >= 1).
    extra = 4 * float(np.max(np.abs(x.astype(np.float64) / t)))
    assert_result_matches_reference(op, x, got, temperature=t, extra_ulp=extra)


@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
def test_temperature_accepts_int_and_numpy_scalars(sc, rng, op):
    x = normal_rows(rng, (3, 10), np.float64)
    fn = getattr(sc, op)
    expected = fn(x, temperature=2.0)
    np.testing.assert_array_equal(fn(x, temperature=2), expected)
    np.testing.assert_array_equal(fn(x, temperature=np.float32(2.0)), expected)
    np.testing.assert_array_equal(fn(x, temperature=np.float64(2.0)), expected)


@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
def test_temperature_one_is_the_plain_op(sc, rng, op):
    x = normal_rows(rng, (3, 10), np.float32)
    fn = getattr(sc, op)
    np.testing.assert_array_equal(fn(x, temperature=1.0), fn(x))


@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
def test_temperature_with_axis_and_out(sc, isa, rng, op):
    x = normal_rows(rng, (6, 5, 9), np.float32) * np.float32(0.5)
    out = np.empty_like(x)
    got = getattr(sc, op)(x, axis=1, temperature=0.5, out=out)
    assert got is out
    assert_result_matches_reference(op, x, out, axis=1, temperature=0.5)
