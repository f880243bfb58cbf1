"""Special values: -inf masks, +inf, NaN, empty axes, length-1 rows and
subnormal results, in every op, dtype and kernel variant, both along the
contiguous axis and across rows (axis 0)."""

import numpy as np
import pytest

import reference
from checks import FLOAT_DTYPES, OPS, assert_result_matches_reference, normal_rows

INF, NAN = np.inf, np.nan
N = 37   # longer than any vector width, with a ragged tail


def _row(specials):
    """A row of N ordinary values with {position: value} overrides."""
    row = np.linspace(-3.0, 2.5, N)
    for pos, value in specials.items():
        row[pos] = value
    return row


SPECIAL_ROWS = {
    "minf-first": _row({0: -INF}),
    "minf-middle": _row({17: -INF}),
    "minf-last": _row({N - 1: -INF}),
    "minf-most": _row({i: -INF for i in range(N) if i != 20}),
    "all-minf": np.full(N, -INF),
    "pinf-first": _row({0: INF}),
    "pinf-last": _row({N - 1: INF}),
    "pinf-and-minf": _row({3: INF, 4: -INF}),
    "two-pinf": _row({3: INF, 30: INF}),
    "nan-first": _row({0: NAN}),
    "nan-middle": _row({18: NAN}),
    "nan-last": _row({N - 1: NAN}),
    "nan-and-pinf": _row({5: NAN, 6: INF}),
    "nan-and-minf": _row({5: NAN, 6: -INF}),
    "nan-in-minf-row": np.where(np.arange(N) == 9, NAN, -INF),
}


def _embedded(dtype, row, rng, transpose):
    """The special row between two ordinary rows: neighbours must not notice."""
    x = normal_rows(rng, (3, N), dtype)
    x[1] = row
    return (np.ascontiguousarray(x.T), 0) if transpose else (x, -1)


@pytest.mark.parametrize("transpose", [False, True], ids=["rows", "columns"])
@pytest.mark.parametrize("name", list(SPECIAL_ROWS))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", OPS)
def test_special_row_matches_reference(sc, isa, rng, op, dtype, name, transpose):
    # assert_result_matches_reference treats NaN/inf exactly: NaN only where
    # the reference has NaN, the same infinities, finite values in tolerance.
    x, axis = _embedded(dtype, SPECIAL_ROWS[name], rng, transpose)
    with np.errstate(all="ignore"):
        got = getattr(sc, op)(x, axis=axis)
    assert_result_matches_reference(op, x, got, axis=axis)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_minus_inf_gives_exact_zero_and_minus_inf(sc, isa, rng, dtype):
    x = normal_rows(rng, (20, 300), dtype)
    mask = rng.random(x.shape) < 0.1            # 10% masked entries
    mask[:, 0] = False                           # keep every row defined
    x[mask] = -np.inf
    for axis, xx, mm in [(-1, x, mask), (0, np.ascontiguousarray(x.T), mask.T)]:
        soft = sc.softmax(xx, axis=axis)
        log_soft = sc.log_softmax(xx, axis=axis)
        assert np.all(soft[mm] == 0.0), "softmax of -inf must be exactly 0"
        assert np.all(log_soft[mm] == -np.inf), "log_softmax of -inf must be -inf"
        assert_result_matches_reference("softmax", xx, soft, axis=axis)
        assert_result_matches_reference("log_softmax", xx, log_soft, axis=axis)
        assert_result_matches_reference("logsumexp", xx, sc.logsumexp(xx, axis=axis),
                                        axis=axis)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_all_minus_inf_row(sc, isa, dtype):
    x = np.full((2, 19), -np.inf, dtype=dtype)
    with np.errstate(all="ignore"):
        assert np.all(np.isnan(sc.softmax(x)))
        assert np.all(np.isnan(sc.log_softmax(x)))
        np.testing.assert_array_equal(sc.logsumexp(x), [-np.inf, -np.inf])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_plus_inf_row(sc, isa, dtype):
    x = np.zeros((2, 19), dtype=dtype)
    x[:, 7] = np.inf
    with np.errstate(all="ignore"):
        assert np.all(np.isnan(sc.softmax(x)))          # as scipy.special.softmax
        assert np.all(np.isnan(sc.log_softmax(x)))
        np.testing.assert_array_equal(sc.logsumexp(x), [np.inf, np.inf])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_nan_poisons_only_its_row(sc, isa, rng, dtype, op):
    x = normal_rows(rng, (5, 40), dtype)
    clean = getattr(sc, op)(x)
    x[2, 11] = np.nan
    with np.errstate(all="ignore"):
        got = getattr(sc, op)(x)
    assert np.all(np.isnan(got[2]))
    keep = [0, 1, 3, 4]
    np.testing.assert_array_equal(got[keep], clean[keep])


# A NaN that comes before a later, larger maximum (another block, chunk or
# column step): rescaling the partial sum to the new maximum multiplies it
# by exp(old - new), which underflows to 0 for a +inf, a huge value or a
# row of -inf so far; the NaN must survive that.  (It once did not:
# logsumexp([-inf, nan, -inf, ..., 5]) was 5.)
NAN_BEFORE_MAX_ROWS = {
    "nan-then-pinf": lambda n: {1: NAN, n - 1: INF},
    "nan-then-huge": lambda n: {1: NAN, n - 1: 3e38},
    "minf-nan-then-finite": lambda n: {**{i: -INF for i in range(n - 1)}, 1: NAN},
}


@pytest.mark.parametrize("transpose", [False, True], ids=["rows", "columns"])
@pytest.mark.parametrize("n", [300, 5000, 40000])
@pytest.mark.parametrize("name", list(NAN_BEFORE_MAX_ROWS))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_nan_before_a_later_maximum_stays_nan(sc, isa, op_or_xent, dtype, name, n, transpose):
    x = np.zeros((3, n), dtype=dtype)
    for pos, value in NAN_BEFORE_MAX_ROWS[name](n).items():
        x[1, pos] = value
    axis = -1
    if transpose:
        x, axis = np.ascontiguousarray(x.T), 0
    with np.errstate(all="ignore"):
        if op_or_xent == "cross_entropy":
            logits = x if axis == -1 else x.T
            got, grad = sc.cross_entropy(logits, np.zeros(3, dtype=np.int64),
                                         reduction="none", return_grad=True)
            assert np.isnan(got[1]) and np.all(np.isnan(grad[1]))
            assert np.all(np.isfinite(got[[0, 2]]))
            return
        got = getattr(sc, op_or_xent)(x, axis=axis)
    row = got[1] if axis == -1 or got.ndim == 1 else got[:, 1]
    assert np.all(np.isnan(row)), f"{op_or_xent}: NaN row gave {row[:4]} ..."


@pytest.fixture(params=OPS + ("cross_entropy",))
def op_or_xent(request):
    return request.param


# --------------------------------------------------------------------------
# empty axes and length-1 rows
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", [((3, 0), -1), ((0, 4), 0), ((2, 0, 5), 1),
                                         ((0,), 0), ((3, 0), None), ((2, 0, 5), (0, 1))])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_empty_reduction_axis(sc, dtype, shape, axis):
    x = np.zeros(shape, dtype=dtype)
    for op in ("softmax", "log_softmax"):
        got = getattr(sc, op)(x, axis=axis)
        assert got.shape == shape and got.dtype == dtype, op
    got = sc.logsumexp(x, axis=axis)
    want = reference.logsumexp(x, axis=axis)
    assert got.shape == want.shape and got.dtype == dtype
    assert np.all(got == -np.inf)


@pytest.mark.parametrize("shape, axis", [((0, 4), -1), ((4, 0, 3), -1), ((4, 0, 3), 0)])
@pytest.mark.parametrize("op", OPS)
def test_empty_non_reduced_axis(sc, op, shape, axis):
    # no rows at all: an empty result of the right shape
    x = np.zeros(shape, dtype=np.float32)
    got = getattr(sc, op)(x, axis=axis)
    want_shape = shape if op != "logsumexp" else reference.logsumexp(x, axis=axis).shape
    assert got.shape == want_shape and got.dtype == np.float32


VALUES_FOR_LENGTH_ONE = [0.0, -7.5, 3.25e4, -1e30, 1e30, 1e-40]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_length_one_rows_are_exact(sc, isa, dtype):
    x = np.array(VALUES_FOR_LENGTH_ONE, dtype=dtype)[:, None]
    np.testing.assert_array_equal(sc.softmax(x), np.ones_like(x))
    np.testing.assert_array_equal(sc.log_softmax(x), np.zeros_like(x))
    np.testing.assert_array_equal(sc.logsumexp(x), x[:, 0])
    # the same, reducing over a length-1 leading axis
    np.testing.assert_array_equal(sc.softmax(x.T, axis=0), np.ones_like(x.T))
    np.testing.assert_array_equal(sc.log_softmax(x.T, axis=0), np.zeros_like(x.T))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_length_one_rows_of_special_values(sc, isa, dtype):
    x = np.array([[-np.inf], [np.inf], [np.nan]], dtype=dtype)
    with np.errstate(all="ignore"):
        assert np.all(np.isnan(sc.softmax(x)))
        assert np.all(np.isnan(sc.log_softmax(x)))
        got = sc.logsumexp(x)
    np.testing.assert_array_equal(got, [-np.inf, np.inf, np.nan])


# --------------------------------------------------------------------------
# subnormal results are computed, not flushed to zero
# --------------------------------------------------------------------------

SUBNORMAL_ROWS = {
    # x - max reaching below exp's normal range (float32 ~ -87.3, float64 ~ -708.4)
    np.float32: [0.0, -80.0, -88.0, -90.0, -95.0, -100.0, -102.0, -103.5, -110.0],
    np.float64: [0.0, -700.0, -709.0, -712.0, -720.0, -735.0, -744.0, -745.0, -800.0],
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_subnormal_softmax_results(sc, isa, dtype):
    row = np.array(SUBNORMAL_ROWS[dtype], dtype=dtype)
    x = np.tile(row, (3, 3))                    # 27-long rows: vector body and tail
    x[1] += dtype(5.0)                          # the shift must not matter
    got = sc.softmax(x)
    # Issue 2 measures subnormal results in the subnormal spacing: an
    # implementation that flushes them to 0 is off by many such ulp.
    assert_result_matches_reference("softmax", x, got)
    tiny = np.finfo(dtype).smallest_normal
    assert np.any((got > 0) & (got < tiny)), "expected some subnormal results"


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_subnormal_inputs(sc, isa, dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([[tiny, -tiny, 0.0, 3 * tiny, -0.0] * 4], dtype=dtype)
    for op in OPS:
        assert_result_matches_reference(op, x, getattr(sc, op)(x))


@pytest.mark.parametrize("t", [0.3, 0.5, 2.0])
@pytest.mark.parametrize("transpose", [False, True], ids=["rows", "columns"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_minus_inf_with_temperature(sc, isa, op, dtype, transpose, t):
    # -inf / t is still -inf: masked entries stay exactly 0 / -inf
    row = np.array([1.0, -np.inf, 2.0, -np.inf, 0.5], dtype=dtype)
    x, axis = (row[:, None], 0) if transpose else (row[None, :], -1)
    got = getattr(sc, op)(x, axis=axis, temperature=t).reshape(-1)
    expected_masked = 0.0 if op == "softmax" else -np.inf
    np.testing.assert_array_equal(got[[1, 3]], [expected_masked] * 2)
    assert_result_matches_reference(op, x, got.reshape(x.shape), axis=axis, temperature=t)
