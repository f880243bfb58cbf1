"""The test oracles checked on their own: references against SciPy and mpmath,
and the ulp helpers on hand-made cases.  These tests do not import softmax_c."""

import numpy as np
import pytest
import scipy.special

import reference as ref
from ulp import log_ulp, relative_ulp

rng = np.random.default_rng(20240602)

AXES_3D = [0, 1, 2, -1, -3, None, (0, 2), (2, 0), (0, 1, 2)]


# SciPy rounds x - max(x) in float64 before exp, so its softmax carries a
# relative error up to about |x - max| * eps (~40 eps for these rows): the
# references are compared to it with that allowance, and to mpmath tightly.
SCIPY_RTOL = 64 * np.finfo(np.float64).eps


@pytest.mark.parametrize("axis", AXES_3D)
def test_reference_softmax_matches_scipy(axis):
    x = rng.normal(0, 4, size=(3, 4, 5))
    got = ref.softmax(x, axis=axis)
    want = scipy.special.softmax(x, axis=axis)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=SCIPY_RTOL, atol=0)


@pytest.mark.parametrize("axis", AXES_3D)
def test_reference_log_softmax_matches_scipy(axis):
    x = rng.normal(0, 4, size=(3, 4, 5))
    got = ref.log_softmax(x, axis=axis)
    want = scipy.special.log_softmax(x, axis=axis)
    assert np.max(log_ulp(got.astype(np.float64), want, 60)) <= 4


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES_3D)
def test_reference_logsumexp_matches_scipy(axis, keepdims):
    x = rng.normal(0, 4, size=(3, 4, 5))
    got = ref.logsumexp(x, axis=axis, keepdims=keepdims)
    want = scipy.special.logsumexp(x, axis=axis, keepdims=keepdims)
    assert got.shape == np.shape(want)
    assert np.max(log_ulp(got.astype(np.float64), want, 60)) <= 4


@pytest.mark.parametrize("b_shape", [(), (5,), (4, 1), (3, 4, 5)])
@pytest.mark.parametrize("return_sign", [False, True])
@pytest.mark.parametrize("axis", [-1, 0, None, (0, 1)])
def test_reference_weighted_logsumexp_matches_scipy(b_shape, return_sign, axis):
    x = rng.normal(0, 4, size=(3, 4, 5))
    b = rng.normal(0, 1, size=b_shape)
    got = ref.logsumexp(x, axis=axis, b=b, return_sign=return_sign)
    want = scipy.special.logsumexp(x, axis=axis, b=b, return_sign=return_sign)
    if return_sign:
        np.testing.assert_array_equal(got[1].astype(np.float64), want[1])
        got, want = got[0], want[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    # scipy's own cancellation error can be large when the signed sum is
    # small, so compare loosely: this checks semantics, not accuracy.
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("row, b, expected", [
    ([1.0, 2.0], [0.0, 1.0], 2.0),                 # zero weight drops a term
    ([np.inf, 2.0], [0.0, 1.0], 2.0),              # ... even an infinite one
    ([np.nan, 2.0], [0.0, 1.0], 2.0),              # ... even a NaN
    ([1.0, 1.0], [1.0, -1.0], -np.inf),            # exact cancellation: log 0
    ([1.0, 2.0], [1.0, -1.0], np.nan),             # negative total: NaN
    ([np.inf, 1.0], [-1.0, 1.0], np.nan),          # -inf total: NaN
])
def test_reference_logsumexp_weight_rules_match_scipy(row, b, expected):
    got = ref.logsumexp(np.array(row), b=np.array(b))
    want = scipy.special.logsumexp(np.array(row), b=np.array(b))
    np.testing.assert_equal(float(got), float(want))
    np.testing.assert_equal(float(got), expected)


@pytest.mark.parametrize("row, lse, soft", [
    ([-np.inf, -np.inf], -np.inf, [np.nan, np.nan]),
    ([np.inf, 1.0], np.inf, [np.nan, np.nan]),
    ([np.nan, 1.0], np.nan, [np.nan, np.nan]),
    ([np.nan, np.inf], np.nan, [np.nan, np.nan]),
    ([-np.inf, 0.0], 0.0, [0.0, 1.0]),
    ([5.0], 5.0, [1.0]),
])
def test_reference_special_values(row, lse, soft):
    x = np.array(row)
    np.testing.assert_equal(float(ref.logsumexp(x)), lse)
    np.testing.assert_equal(ref.softmax(x).astype(float), soft)
    want_scipy = scipy.special.logsumexp(x)
    np.testing.assert_equal(float(ref.logsumexp(x)), want_scipy)


def test_reference_empty_axis():
    x = np.zeros((3, 0))
    assert ref.softmax(x).shape == (3, 0)
    assert ref.log_softmax(x).shape == (3, 0)
    np.testing.assert_array_equal(ref.logsumexp(x), [-np.inf] * 3)
    np.testing.assert_array_equal(ref.logsumexp(x, axis=1),
                                  scipy.special.logsumexp(x, axis=1))


def test_reference_temperature_is_exact_division():
    x = rng.normal(0, 4, size=(4, 7))
    got = ref.softmax(x, temperature=0.5)
    want = scipy.special.softmax(x * 2.0, axis=-1)     # x / 0.5 == 2x exactly
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2 * SCIPY_RTOL, atol=0)


def test_reference_dtype_rules():
    assert ref.result_dtype(np.zeros(2, np.float16)) == np.float32
    assert ref.result_dtype(np.zeros(2, np.float32)) == np.float32
    assert ref.result_dtype(np.zeros(2, ">f4")) == np.float32
    assert ref.result_dtype(np.zeros(2, np.float64)) == np.float64
    assert ref.result_dtype(np.zeros(2, np.int8)) == np.float64
    assert ref.result_dtype(np.zeros(2, np.uint64)) == np.float64
    assert ref.result_dtype([True, False]) == np.float64
    assert ref.result_dtype([1, 2]) == np.float64


@pytest.mark.parametrize("n", [1, 5, 64])
def test_reference_agrees_with_mpmath(n):
    x = rng.normal(0, 4, size=n)
    assert np.max(relative_ulp(ref.softmax(x).astype(np.float64),
                               ref.mp_softmax_row(x))) <= 0.5
    assert np.max(log_ulp(ref.log_softmax(x).astype(np.float64),
                          ref.mp_log_softmax_row(x), n)) <= 0.5
    assert np.max(log_ulp(ref.logsumexp(x).astype(np.float64),
                          ref.mp_logsumexp_row(x), n)) <= 0.5


def test_relative_ulp_counts_steps_of_the_output_grid():
    one = np.float32(1.0)
    assert relative_ulp(np.nextafter(one, np.float32(2)), one)[()] == 1
    assert relative_ulp(np.float32(1.0), np.float32(1.0))[()] == 0
    # subnormal results are measured in the subnormal spacing
    tiny = np.float32(3e-45)
    assert relative_ulp(np.nextafter(tiny, one), tiny)[()] == 1


def test_ulp_helpers_treat_special_values_exactly():
    got = np.array([np.nan, np.inf, -np.inf, 0.0, np.nan, 1.0, np.inf], dtype=np.float32)
    want = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, np.nan, -np.inf])
    err = relative_ulp(got, want)
    np.testing.assert_array_equal(err, [0, 0, 0, 0, np.inf, np.inf, np.inf])
    err = log_ulp(got, want, 10)
    np.testing.assert_array_equal(err, [0, 0, 0, 0, np.inf, np.inf, np.inf])


def test_log_ulp_uses_the_log_n_scale():
    # near 0 the unit is spacing(log(n) + 1), not spacing(0)
    n = 1000
    unit = np.spacing(np.float64(np.log(n) + 1))
    assert log_ulp(np.float64(3 * unit), 0.0, n)[()] == pytest.approx(3)
