"""cross_entropy: values and gradients for every option, against an
independent longdouble NumPy twin (always) and PyTorch CPU float64 (when
installed); finite differences, identities, layouts, in-place gradients,
special values, threads, memory, and every bad input."""

import itertools
import tracemalloc

import numpy as np
import pytest

import loss_reference as ref
import ulp

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("none", "mean", "sum")
SMOOTHINGS = (0.0, 0.1, 1.0)

# Accuracy bounds (issue 7), in ulp of the logits' dtype:
# * the loss of a row is a sum of non-negative terms (log_sum, m - x_t,
#   u_j * (m - x_j)), each computed with ~1-2 roundings and summed partly in
#   T blocks of <= 8 additions per lane: <= 8 ulp relative.
LOSS_ULP = 8
# * gradient: 8 ulp relative to the size of its terms (p_k * sum(u) and
#   u_k; for the unsmoothed integer-target gradient that is the value
#   itself, the target entry included, since it is computed via expm1).
GRAD_ULP = 8


# ---- helpers -----------------------------------------------------------------

def spacing_of(scale, dtype):
    return np.abs(np.spacing(np.abs(np.asarray(scale, dtype=np.float64)).astype(dtype)))


def ulp_error(got, want, scale, dtype):
    """|got - want| in ulp of `dtype` at `scale` (special values must match)."""
    got = np.asarray(got, dtype=np.longdouble)
    want = np.asarray(want, dtype=np.longdouble)
    same_special = (np.isnan(got) & np.isnan(want)) | (np.isinf(want) & (got == want))
    err = np.abs(got - want) / spacing_of(scale, dtype).astype(np.longdouble)
    return np.where(same_special, 0.0, err).astype(np.float64)


def make_case(rng, dtype, shape, axis, labels, *, weight, ignore, scale=3.0):
    """(logits, target, weight) for a test case; targets on `axis`."""
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    n = shape[axis]
    rows_shape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
    if labels:
        t = rng.integers(0, n, size=rows_shape)
        if ignore:
            t[rng.random(rows_shape) < 0.3] = -100
    else:
        raw = rng.random(shape) ** 3
        t = (raw / raw.sum(axis=axis, keepdims=True)).astype(dtype)
    w = rng.uniform(0.1, 2.0, n).astype(dtype) if weight else None
    return x, t, w


def reference_scales(x, t, axis, w, smoothing, reduction, ignore_index):
    """Per-element size of the gradient's terms: the gradient is
    p * sum(u) - u (over the mean's divisor), and where those two nearly
    cancel its error is judged against |p * sum(u)| + |u|."""
    xm = np.moveaxis(np.asarray(x, dtype=np.longdouble), axis, -1)
    n = xm.shape[-1]
    tt = np.asarray(t)
    labels = tt.dtype.kind in "iu"
    q, keep = ref._target_distribution(tt if labels else np.moveaxis(tt, axis, -1), n,
                                       labels, ignore_index, smoothing)
    ww = np.ones(n, dtype=np.longdouble) if w is None else np.asarray(w, np.longdouble)
    p = np.exp(ref.log_softmax_rows(xm))
    terms = p * np.sum(q * ww, axis=-1, keepdims=True) + q * ww
    if reduction == "mean":
        if labels:
            tk = np.where(keep, tt, 0)
            terms = terms / np.sum(np.where(keep, ww[tk], 0))
        else:
            terms = terms / keep.size
    return np.moveaxis(terms, -1, axis)


def check_against_reference(sc, x, t, axis=-1, *, weight=None, ignore_index=-100,
                            reduction="mean", label_smoothing=0.0, grad_out=None,
                            threads=None):
    dtype = np.asarray(x).dtype
    loss, grad = sc.cross_entropy(x, t, axis, weight=weight, ignore_index=ignore_index,
                                  reduction=reduction, label_smoothing=label_smoothing,
                                  return_grad=True, grad_out=grad_out, threads=threads)
    want_loss, want_grad = ref.cross_entropy(x, t, axis, weight=weight,
                                             ignore_index=ignore_index, reduction=reduction,
                                             label_smoothing=label_smoothing)
    assert grad.dtype == dtype and grad.shape == np.shape(x)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype
        assert loss.shape == np.shape(want_loss)
    else:
        assert isinstance(loss, dtype.type) and np.ndim(loss) == 0
    loss_err = ulp_error(loss, want_loss, want_loss, dtype)
    assert loss_err.max(initial=0) <= LOSS_ULP, f"loss error {loss_err.max()} ulp"
    ulp.record("xent_loss", dtype, "rel", loss_err.max(initial=0))

    labels = np.asarray(t).dtype.kind in "iu"
    if labels and label_smoothing == 0.0:
        scale = want_grad                 # pure relative error, target entry too
    else:
        scale = reference_scales(x, t, axis, weight, label_smoothing, reduction, ignore_index)
    grad_err = ulp_error(grad, want_grad, scale, dtype)
    worst = grad_err.max(initial=0)
    idx = np.unravel_index(int(np.argmax(grad_err)), grad_err.shape) if grad_err.size else ()
    assert worst <= GRAD_ULP, (f"gradient error {worst:.3g} ulp at {idx}: got {grad[idx]!r}, "
                               f"want {want_grad[idx]!r}")
    ulp.record("xent_grad", dtype, "rel" if scale is want_grad else "terms", worst)
    return loss, grad


# ---- values against the NumPy twin, every option ------------------------------------

LABEL_CASES = list(itertools.product((False, True), (False, True), SMOOTHINGS, REDUCTIONS))
PROB_CASES = list(itertools.product((False, True), SMOOTHINGS, REDUCTIONS))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight,ignore,smoothing,reduction", LABEL_CASES)
@pytest.mark.parametrize("shape", [(6, 37), (3, 300), (40, 10)])   # (40, 10): one row per lane
def test_integer_targets_match_reference(sc, isa, rng, dtype, weight, ignore, smoothing,
                                         reduction, shape):
    x, t, w = make_case(rng, dtype, shape, -1, True, weight=weight, ignore=ignore)
    check_against_reference(sc, x, t, weight=w, reduction=reduction,
                            label_smoothing=smoothing)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 4, 10, 16, 31])
def test_short_rows_do_not_depend_on_their_neighbours(sc, isa, rng, dtype, n):
    """Short rows go several at once, one per vector lane, and rows holding
    +-inf or NaN, or ignored, one at a time: each row's loss and gradient are
    bit for bit those of the row alone, whatever its neighbours."""
    rows = 50
    x = (rng.standard_normal((rows, n)) * 4).astype(dtype)
    t = rng.integers(0, n, rows)
    x[3, 0] = np.inf
    x[7, -1] = -np.inf
    x[8, :] = -np.inf
    x[11, n // 2] = np.nan
    t[13] = -100
    w = rng.random(n).astype(dtype)
    loss, grad = sc.cross_entropy(x, t, weight=w, reduction="none", return_grad=True)
    for i in range(rows):
        one, g = sc.cross_entropy(x[i:i + 1], t[i:i + 1], weight=w, reduction="none",
                                  return_grad=True)
        assert one.tobytes() == loss[i:i + 1].tobytes(), f"row {i}: loss"
        assert g.tobytes() == grad[i:i + 1].tobytes(), f"row {i}: gradient"
    finite = np.isfinite(x).all(axis=1) & (t != -100)
    want_loss, want_grad = ref.cross_entropy(x[finite], t[finite], -1, weight=w,
                                             reduction="none")
    assert np.all(ulp_error(loss[finite], want_loss, want_loss, dtype) <= LOSS_ULP)
    assert np.all(ulp_error(grad[finite], want_grad, want_grad, dtype) <= GRAD_ULP)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight,smoothing,reduction", PROB_CASES)
@pytest.mark.parametrize("shape", [(6, 37), (3, 300)])
def test_probability_targets_match_reference(sc, isa, rng, dtype, weight, smoothing,
                                             reduction, shape):
    x, t, w = make_case(rng, dtype, shape, -1, False, weight=weight, ignore=False)
    check_against_reference(sc, x, t, weight=w, reduction=reduction,
                            label_smoothing=smoothing)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", [True, False])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_class_axis_first_middle_last(sc, isa, rng, dtype, labels, axis):
    x, t, w = make_case(rng, dtype, (5, 7, 9), axis, labels, weight=True, ignore=labels)
    check_against_reference(sc, x, t, axis, weight=w, label_smoothing=0.1)
    check_against_reference(sc, x, t, axis, reduction="none")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("classes, rows", [(300, 150), (4096, 70), (20000, 9)])
def test_class_axis_first_in_tiles_is_the_contiguous_result(sc, isa, rng, dtype, classes, rows):
    # A strided class axis goes through a contiguous tile buffer (several
    # rows at once, the last tile partial; rows too long for the buffer:
    # a row at a time): loss and gradient bitwise those of the contiguous
    # layout, also with the gradient written over the logits.
    x, t, w = make_case(rng, dtype, (rows, classes), -1, True, weight=True, ignore=True)
    want_loss, want_grad = sc.cross_entropy(x, t, weight=w, label_smoothing=0.1,
                                            return_grad=True, reduction="none")
    xt = np.ascontiguousarray(x.T)                     # classes first, samples contiguous
    for threads in (1, 2):
        loss, grad = sc.cross_entropy(xt, t, axis=0, weight=w, label_smoothing=0.1,
                                      return_grad=True, reduction="none", threads=threads)
        np.testing.assert_array_equal(loss, want_loss)
        np.testing.assert_array_equal(grad, want_grad.T)
    inplace = xt.copy()
    loss, grad = sc.cross_entropy(inplace, t, axis=0, weight=w, label_smoothing=0.1,
                                  return_grad=True, reduction="none", grad_out=inplace)
    assert grad is inplace
    np.testing.assert_array_equal(loss, want_loss)
    np.testing.assert_array_equal(inplace, want_grad.T)


def test_long_rows_match_reference(sc, isa, rng):
    """Rows longer than SMC_CHUNK (16384) exercise the chunk merge."""
    x, t, w = make_case(rng, np.float32, (2, 40000), -1, True, weight=True, ignore=False)
    check_against_reference(sc, x, t, weight=w, label_smoothing=0.2)
    check_against_reference(sc, x, t, reduction="sum")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", [True, False])
def test_rows_whose_maximum_keeps_rising(sc, isa, rng, dtype, labels):
    """Sorted rows: every block raises the running maximum, so the stored
    exps of the first pass need many rescalings (more than the kernel keeps
    segments for); also in place."""
    x, t, w = make_case(rng, dtype, (3, 9000), -1, labels, weight=True, ignore=False)
    x = np.sort(x, axis=1) * 4
    x[1] = x[1, ::-1]                              # and one falling row
    check_against_reference(sc, x, t, weight=w, label_smoothing=0.1)
    want = sc.cross_entropy(x, t, weight=w, return_grad=True)
    got = sc.cross_entropy(x, t, weight=w, return_grad=True, grad_out=x)
    assert got[0] == want[0]
    np.testing.assert_array_equal(x, want[1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_at_the_maximum_and_peaked_rows(sc, isa, rng, dtype):
    """Maxima repeated in several spans (counted apart from the sum), and
    rows so peaked that the loss is tiny (it comes from log1p of the small
    sum, so it keeps its relative accuracy)."""
    x = (rng.standard_normal((4, 3000)) - 40).astype(dtype)
    x[0, [5, 700, 1500, 2999]] = 10            # 4 tied maxima, several spans
    x[1, 2000] = 10                            # one dominant entry: loss ~ 1e-17
    x[2, [0, 1]] = 10
    x[3, :] = 1.5                              # all equal: loss = log(n)
    t = np.array([700, 2000, 1, 17])
    loss, _ = check_against_reference(sc, x, t, reduction="none")
    assert loss[0] == pytest.approx(np.log(4), rel=1e-6)
    assert 0 < loss[1] < 1e-10
    assert loss[3] == pytest.approx(np.log(3000), rel=1e-6)
    check_against_reference(sc, x, t, reduction="sum", label_smoothing=0.2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_leading_masked_block_then_finite_logits(sc, isa, rng, dtype):
    x = (rng.standard_normal((2, 700)) * 3).astype(dtype)
    x[:, :300] = -np.inf
    t = np.array([400, 650])
    loss, grad = check_against_reference(sc, x, t, reduction="none", label_smoothing=0.0)
    assert np.all(grad[:, :300] == 0) and np.all(np.isfinite(loss))


@pytest.mark.parametrize("dtype", DTYPES)
def test_ignore_index_can_be_a_valid_class(sc, rng, dtype):
    x, t, _ = make_case(rng, dtype, (8, 5), -1, True, weight=False, ignore=False)
    t[:4] = 2
    check_against_reference(sc, x, t, ignore_index=2, label_smoothing=0.1)
    loss, grad = sc.cross_entropy(x, t, ignore_index=2, reduction="none", return_grad=True)
    assert np.all(loss[t == 2] == 0) and np.all(grad[t == 2] == 0)


def test_one_dimensional_logits_take_a_scalar_target(sc, rng):
    x = rng.standard_normal(10)
    loss, grad = check_against_reference(sc, x, np.int64(3), reduction="none")
    assert np.ndim(loss) == 0 and grad.shape == (10,)


@pytest.mark.parametrize("tdtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                    np.uint32, np.uint64, ">i8"])
def test_any_integer_target_dtype(sc, rng, tdtype):
    x = rng.standard_normal((6, 9))
    t = rng.integers(0, 9, 6)
    want = sc.cross_entropy(x, t, return_grad=True)
    got = sc.cross_entropy(x, t.astype(tdtype), return_grad=True)
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1], want[1])


def test_return_types(sc, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 0])
    assert type(sc.cross_entropy(x, t)) is np.float32
    assert type(sc.cross_entropy(x.astype(np.float64), t, reduction="sum")) is np.float64
    out = sc.cross_entropy(x, t, reduction="none")
    assert out.shape == (4,) and out.dtype == np.float32
    assert not isinstance(sc.cross_entropy(x, t, return_grad=False), tuple)


# ---- PyTorch CPU, float64 ------------------------------------------------------------

def torch_cross_entropy(torch, x, t, axis, **kwargs):
    """PyTorch loss and gradient with the class axis moved to dim 1."""
    xm = np.moveaxis(x, axis, 1) if x.ndim > 1 else x
    tt = np.asarray(t)
    if tt.dtype.kind == "f":
        tt = np.moveaxis(tt, axis, 1) if tt.ndim > 1 else tt
        target = torch.tensor(np.ascontiguousarray(tt))
    else:
        target = torch.tensor(np.ascontiguousarray(tt, dtype=np.int64))
    if kwargs.get("weight") is not None:
        kwargs["weight"] = torch.tensor(np.asarray(kwargs["weight"]))
    xt = torch.tensor(np.ascontiguousarray(xm), requires_grad=True)
    loss = torch.nn.functional.cross_entropy(xt, target, **kwargs)
    loss.sum().backward()
    grad = xt.grad.numpy()
    return loss.detach().numpy(), np.moveaxis(grad, 1, axis) if x.ndim > 1 else grad


def assert_close_to_torch(got, want):
    got, want = np.asarray(got), np.asarray(want)
    # float64 against float64: both are a few roundings from exact; the
    # absolute part covers gradient entries that are differences
    atol = 1e-13 * max(1.0, float(np.max(np.abs(want), initial=0)))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=atol, equal_nan=True)


@pytest.mark.parametrize("labels,weight,ignore,smoothing,reduction",
                         [(True,) + c for c in LABEL_CASES] +
                         [(False, c[0], False, c[1], c[2]) for c in PROB_CASES])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_matches_torch(sc, rng, labels, weight, ignore, smoothing, reduction, axis):
    torch = pytest.importorskip("torch")
    x, t, w = make_case(rng, np.float64, (4, 6, 5), axis, labels, weight=weight, ignore=ignore)
    loss, grad = sc.cross_entropy(x, t, axis, weight=w, reduction=reduction,
                                  label_smoothing=smoothing, return_grad=True)
    want_loss, want_grad = torch_cross_entropy(torch, x, t, axis, weight=w,
                                               reduction=reduction, label_smoothing=smoothing)
    assert_close_to_torch(loss, want_loss)
    assert_close_to_torch(grad, want_grad)


@pytest.mark.parametrize("labels", [True, False])
def test_matches_torch_non_contiguous_and_in_place(sc, rng, labels):
    torch = pytest.importorskip("torch")
    base = rng.standard_normal((9, 12, 14)) * 3
    x = base[::2, 1::2, ::-1]                     # strided, negative steps
    if labels:
        t = rng.integers(0, x.shape[1], (x.shape[0], x.shape[2]))
        t[0, 0] = -100
    else:
        raw = rng.random(x.shape)
        t = raw / raw.sum(axis=1, keepdims=True)
    w = rng.uniform(0.5, 1.5, x.shape[1])
    kwargs = dict(weight=w, label_smoothing=0.05)
    want_loss, want_grad = torch_cross_entropy(torch, x.copy(), t, 1, **kwargs)
    loss, grad = sc.cross_entropy(x, t, 1, grad_out=x, return_grad=True, **kwargs)
    assert grad is x
    assert_close_to_torch(loss, want_loss)
    assert_close_to_torch(x, want_grad)


def test_all_ignored_matches_torch(sc, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 4))
    t = np.full(3, -100)
    for smoothing in (0.0, 0.3):
        want_loss, want_grad = torch_cross_entropy(torch, x, t, 1, label_smoothing=smoothing)
        loss, grad = sc.cross_entropy(x, t, label_smoothing=smoothing, return_grad=True)
        assert np.isnan(loss) and np.isnan(want_loss)
        np.testing.assert_array_equal(grad, want_grad)


# ---- gradients: finite differences and identities ----------------------------------

@pytest.mark.parametrize("labels,weight,smoothing,reduction",
                         [(True, False, 0.0, "mean"), (True, True, 0.0, "mean"),
                          (True, True, 0.3, "sum"), (True, False, 0.2, "none"),
                          (False, False, 0.0, "mean"), (False, True, 0.4, "none")])
def test_gradient_matches_central_differences(sc, rng, labels, weight, smoothing, reduction):
    x, t, w = make_case(rng, np.float64, (3, 7), -1, labels, weight=weight, ignore=labels)
    kwargs = dict(weight=w, reduction=reduction, label_smoothing=smoothing)

    def f(z):
        return float(np.sum(sc.cross_entropy(z, t, **kwargs)))

    _, grad = sc.cross_entropy(x, t, return_grad=True, **kwargs)
    h = 1e-6
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (f(up) - f(down)) / (2 * h)
    # central difference: truncation O(h^2 f''') ~ 1e-12, rounding
    # ~eps * |f| / h ~ 1e-10
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unweighted_mean_gradient_rows_sum_to_zero(sc, isa, rng, dtype):
    x, t, _ = make_case(rng, dtype, (50, 333), -1, True, weight=False, ignore=True)
    _, grad = sc.cross_entropy(x, t, return_grad=True)
    sums = grad.astype(np.float64).sum(axis=1)
    # each entry is within a few ulp of its size (|grad| <= 1/rows)
    tol = 8 * np.finfo(dtype).eps * np.abs(grad.astype(np.float64)).sum(axis=1)
    assert np.all(np.abs(sums) <= tol)
    assert np.all(grad[t == -100] == 0)


def test_probability_gradient_rows_sum_to_zero(sc, rng):
    x, t, _ = make_case(rng, np.float64, (20, 50), -1, False, weight=False, ignore=False)
    _, grad = sc.cross_entropy(x, t, label_smoothing=0.3, return_grad=True)
    assert np.all(np.abs(grad.sum(axis=1)) <= 1e-15 * 50)


# ---- layouts, grad_out, in place ------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", [True, False])
def test_non_contiguous_logits_and_grad_out(sc, isa, rng, dtype, labels):
    base = (rng.standard_normal((10, 8, 60)) * 3).astype(dtype)
    for x in (base[::2, ::3, 5:], base.transpose(2, 0, 1)[::-1], base[:, 0, :]):
        x_before = x.copy()
        t_shape = x.shape[:-1]
        if labels:
            t = rng.integers(0, x.shape[-1], t_shape)
            t_strided = np.repeat(t, 2, axis=-1)[..., ::2]     # non-contiguous target
        else:
            raw = rng.random(x.shape)
            t_strided = (raw / raw.sum(axis=-1, keepdims=True)).astype(dtype)[..., ::-1]
        out_base = np.full(x.shape[:-1] + (2 * x.shape[-1],), -7.0, dtype=dtype)
        grad_out = out_base[..., ::2]
        check_against_reference(sc, x, t_strided, label_smoothing=0.1, grad_out=grad_out)
        assert np.all(out_base[..., 1::2] == -7.0), "wrote outside grad_out"
        np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels,smoothing", [(True, 0.0), (True, 0.2), (False, 0.1)])
def test_grad_out_is_logits_in_place(sc, isa, rng, dtype, labels, smoothing):
    x, t, w = make_case(rng, dtype, (7, 300), -1, labels, weight=True, ignore=labels)
    want_loss, want_grad = sc.cross_entropy(x, t, weight=w, label_smoothing=smoothing,
                                            return_grad=True)
    loss, grad = sc.cross_entropy(x, t, weight=w, label_smoothing=smoothing,
                                  return_grad=True, grad_out=x)
    assert grad is x
    assert loss == want_loss
    np.testing.assert_array_equal(x, want_grad)


def test_grad_out_without_return_grad_still_receives_gradient(sc, rng):
    x = rng.standard_normal((3, 4))
    t = np.array([1, 2, 3])
    g = np.zeros_like(x)
    loss = sc.cross_entropy(x, t, grad_out=g)
    want_loss, want_grad = sc.cross_entropy(x, t, return_grad=True)
    assert loss == want_loss
    np.testing.assert_array_equal(g, want_grad)


def test_grad_out_overlapping_probabilities_or_logits_partially(sc, rng):
    raw = rng.random((6, 11))
    buf = np.concatenate([rng.standard_normal((6, 11)), raw / raw.sum(1, keepdims=True)], 1)
    x, q = buf[:, :11].copy(), buf[:, 11:]
    want_loss, want_grad = sc.cross_entropy(x, q.copy(), return_grad=True)
    grad_out = buf[:, 5:16]                 # overlaps the probabilities partially
    loss, _ = sc.cross_entropy(x, q, return_grad=True, grad_out=grad_out)
    assert loss == want_loss
    np.testing.assert_array_equal(buf[:, 5:16], want_grad)

    y = rng.standard_normal(20)
    xs = y[:-1].reshape(1, 19)
    want = sc.cross_entropy(xs.copy(), [3], return_grad=True)[1]
    g = y[1:].reshape(1, 19)                # shifted by one element
    sc.cross_entropy(xs, [3], grad_out=g)
    np.testing.assert_array_equal(y[1:], want.ravel())


def test_grad_out_overlapping_labels_gives_the_same_result(sc, rng):
    x = rng.standard_normal((4, 2))
    buf = np.zeros(8, dtype=np.float64)
    labels = buf.view(np.int64)[:4]
    labels[:] = [0, 1, 1, 0]
    want = sc.cross_entropy(x, labels.copy(), return_grad=True)[1]
    sc.cross_entropy(x, labels, grad_out=buf.reshape(4, 2))
    np.testing.assert_array_equal(buf.reshape(4, 2), want)


# ---- special values -------------------------------------------------------------------

@pytest.mark.parametrize("dtype,big", [(np.float32, 1e4), (np.float64, 700.0)])
@pytest.mark.parametrize("labels", [True, False])
def test_large_logits_are_finite(sc, isa, rng, dtype, big, labels):
    x, t, w = make_case(rng, dtype, (6, 50), -1, labels, weight=True, ignore=False)
    x = (np.sign(x) * big + x).astype(dtype)
    loss, grad = sc.cross_entropy(x, t, weight=w, label_smoothing=0.1, return_grad=True,
                                  reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    check_against_reference(sc, x, t, weight=w, label_smoothing=0.1, reduction="none")


def test_all_ignored(sc, rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    t = np.full(5, -100)
    loss, grad = sc.cross_entropy(x, t, return_grad=True)
    assert np.isnan(loss)
    np.testing.assert_array_equal(grad, 0)
    assert sc.cross_entropy(x, t, reduction="sum") == 0
    np.testing.assert_array_equal(sc.cross_entropy(x, t, reduction="none"), 0)


def test_nan_and_inf_logits_poison_only_their_row(sc, rng):
    x = rng.standard_normal((4, 6))
    x[1, 2] = np.nan
    x[2, 3] = np.inf
    t = np.array([0, 0, 0, 0])
    loss, grad = sc.cross_entropy(x, t, reduction="none", return_grad=True)
    assert np.isnan(loss[1]) and np.isnan(loss[2])
    assert np.all(np.isnan(grad[1])) and np.all(np.isnan(grad[2]))
    assert np.all(np.isfinite(loss[[0, 3]])) and np.all(np.isfinite(grad[[0, 3]]))


def test_minus_inf_logits_are_masked_classes(sc, rng):
    x = rng.standard_normal((3, 5))
    x[:, 4] = -np.inf
    t = np.array([0, 1, 2])
    loss, grad = sc.cross_entropy(x, t, reduction="none", return_grad=True)
    want, want_grad = sc.cross_entropy(x[:, :4], t, reduction="none", return_grad=True)
    np.testing.assert_allclose(loss, want, rtol=1e-15)
    np.testing.assert_array_equal(grad[:, 4], 0)
    np.testing.assert_allclose(grad[:, :4], want_grad, rtol=1e-14)


def test_masked_target_class_gives_infinite_loss(sc):
    x = np.array([[0.0, -np.inf], [0.0, 0.0]])
    assert sc.cross_entropy(x, [1, 0]) == np.inf          # as PyTorch
    assert sc.cross_entropy(x, [1, 0], reduction="sum") == np.inf
    loss = sc.cross_entropy(x, [1, 0], reduction="none")
    assert loss[0] == np.inf and loss[1] == np.log(2)


def test_empty_batch(sc):
    x = np.zeros((0, 5))
    t = np.zeros(0, dtype=np.int64)
    assert np.isnan(sc.cross_entropy(x, t))
    assert sc.cross_entropy(x, t, reduction="sum") == 0
    loss, grad = sc.cross_entropy(x, t, reduction="none", return_grad=True)
    assert loss.shape == (0,) and grad.shape == (0, 5)


# ---- threads and determinism ------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", [True, False])
def test_threads_give_bitwise_identical_results(sc, rng, dtype, labels):
    x, t, w = make_case(rng, dtype, (300, 1000), -1, labels, weight=True, ignore=labels)
    one = sc.cross_entropy(x, t, weight=w, label_smoothing=0.1, return_grad=True, threads=1)
    two = sc.cross_entropy(x, t, weight=w, label_smoothing=0.1, return_grad=True, threads=2)
    assert one[0].tobytes() == two[0].tobytes()
    assert one[1].tobytes() == two[1].tobytes()


# Few long rows are split across threads by chunks of SMC_CHUNK (16384)
# elements; the chunks are merged in the same order for every thread count.
# (2, 70000): 5 chunks per row, rows < 2 * threads; (1, 150001): more chunks
# than row mode keeps on the stack, with a partial last chunk.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", [True, False])
@pytest.mark.parametrize("shape", [(2, 70000), (1, 150001)])
def test_split_rows_give_bitwise_identical_results(sc, rng, dtype, labels, shape):
    x, t, w = make_case(rng, dtype, shape, -1, labels, weight=True, ignore=False)
    x[..., 5000:9000] -= 40          # a span where the maximum is far away
    runs = []
    for threads in (1, 2, 3):
        g = x.copy()
        loss = sc.cross_entropy(g, t, weight=w, label_smoothing=0.1, reduction="none",
                                grad_out=g, threads=threads)
        runs.append((loss.tobytes(), g.tobytes()))
    assert runs[0] == runs[1] == runs[2]


def test_split_rows_match_reference_and_ignore(sc, rng):
    x, t, w = make_case(rng, np.float64, (2, 150001), -1, True, weight=True, ignore=False)
    check_against_reference(sc, x, t, weight=w, label_smoothing=0.2, threads=2)
    t[0] = -100                       # an ignored row in split-row mode
    loss, g = sc.cross_entropy(x, t, reduction="none", return_grad=True, threads=2)
    assert loss[0] == 0 and not g[0].any()
    one = sc.cross_entropy(x, t, reduction="none", return_grad=True, threads=1)
    assert loss.tobytes() == one[0].tobytes() and g.tobytes() == one[1].tobytes()


# ---- memory: nothing logits-sized -----------------------------------------------------------

def test_no_logits_sized_allocation_with_grad_out(sc, rng):
    rows, n = 64, 16384
    x = rng.standard_normal((rows, n)).astype(np.float32)
    t = rng.integers(0, n, rows)                   # int64: used without a copy
    w = rng.random(n).astype(np.float32)
    sc.cross_entropy(x, t, weight=w, grad_out=x)     # warm up (imports, caches)
    for reduction in REDUCTIONS:
        tracemalloc.start()
        sc.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=0.1, grad_out=x)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # O(rows) bookkeeping only; the logits are 4 MiB
        assert peak < 64 * rows + 16384, f"{reduction}: peak {peak} bytes"


def test_int64_targets_are_not_copied(sc, rng):
    rows = 200_000
    x = rng.standard_normal((rows, 2)).astype(np.float32)
    t = rng.integers(0, 2, rows)
    sc.cross_entropy(x, t, grad_out=x)
    tracemalloc.start()
    sc.cross_entropy(x, t, grad_out=x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < t.nbytes // 4


# ---- bad input ----------------------------------------------------------------------------

def test_out_of_range_label_names_position_and_value_and_writes_nothing(sc, rng):
    x = rng.standard_normal((3, 4, 5))
    t = rng.integers(0, 5, (3, 4))
    t[1, 2] = 5
    t[2, 0] = -1
    g = np.full_like(x, 42.0)
    with pytest.raises(ValueError, match=r"target: class index 5 at position \(1, 2\)"):
        sc.cross_entropy(x, t, grad_out=g)
    assert np.all(g == 42.0)
    with pytest.raises(ValueError, match=r"class index -1 at position \(2, 0\)"):
        sc.cross_entropy(x, np.where(t == 5, 0, t), grad_out=x)
    assert not np.any(x == 42.0)
    # on the class axis first, the position is still in the target's own order
    t2 = rng.integers(0, 3, (4, 5))
    t2[3, 1] = 7
    with pytest.raises(ValueError, match=r"class index 7 at position \(3, 1\)"):
        sc.cross_entropy(x, t2, axis=0)


def test_huge_unsigned_label_is_out_of_range(sc):
    with pytest.raises(ValueError, match="target: class index 18446744073709551615"):
        sc.cross_entropy(np.zeros((2, 3)), np.array([0, 2**64 - 1], dtype=np.uint64))


BAD_CALLS = [
    # (kwargs or positional overrides, exception, message fragment)
    (dict(logits=np.float64(1.0)), ValueError, "logits"),
    (dict(logits=np.zeros((4, 3), dtype=complex)), TypeError, "logits"),
    (dict(logits=np.zeros((4, 0))), ValueError, "logits"),
    (dict(target=np.zeros(3, dtype=np.int64)), ValueError, "target"),
    (dict(target=np.zeros((4, 1), dtype=np.int64)), ValueError, "target"),
    (dict(target=np.zeros((4, 2))), ValueError, "target"),
    (dict(target=np.zeros((4, 3), dtype=np.float32)), TypeError, "target"),
    (dict(target=np.array(["a"] * 4)), TypeError, "target"),
    (dict(target=np.zeros(4, dtype=bool)), TypeError, "target"),
    (dict(target=[[0], [1, 2], [0], [1]]), ValueError, "target"),     # ragged lists
    (dict(axis=2), ValueError, "axis"),
    (dict(axis=1.0), TypeError, "axis"),
    (dict(axis=(1,)), TypeError, "axis"),
    (dict(weight=np.ones(2)), ValueError, "weight"),
    (dict(weight=np.ones((3, 1))), ValueError, "weight"),
    (dict(weight=np.array(["x", "y", "z"])), TypeError, "weight"),
    (dict(weight=[[1.0], [1.0, 2.0], [1.0]]), ValueError, "weight"),
    (dict(reduction="avg"), ValueError, "reduction"),
    (dict(reduction=None), TypeError, "reduction"),
    (dict(label_smoothing=1.5), ValueError, "label_smoothing"),
    (dict(label_smoothing=-0.1), ValueError, "label_smoothing"),
    (dict(label_smoothing=float("nan")), ValueError, "label_smoothing"),
    (dict(label_smoothing="0.1"), TypeError, "label_smoothing"),
    (dict(ignore_index=1.5), TypeError, "ignore_index"),
    (dict(ignore_index=2**70), ValueError, "ignore_index"),
    (dict(grad_out=np.zeros((4, 3), dtype=np.float32)), TypeError, "grad_out"),
    (dict(grad_out=np.zeros((3, 4))), ValueError, "grad_out"),
    (dict(grad_out=[[0.0] * 3] * 4), TypeError, "grad_out"),
    (dict(grad_out="readonly"), ValueError, "grad_out"),
    (dict(threads=0), ValueError, "threads"),
    (dict(threads="2"), TypeError, "threads"),
]


@pytest.mark.parametrize("override,exc,fragment", BAD_CALLS,
                         ids=[f"{k}-{i}" for i, (o, _, _) in enumerate(BAD_CALLS) for k in o])
def test_bad_input_raises_naming_the_argument(sc, override, exc, fragment):
    kwargs = dict(logits=np.zeros((4, 3)), target=np.array([0, 1, 2, 0]))
    kwargs.update(override)
    if isinstance(kwargs.get("grad_out"), str):
        g = np.zeros((4, 3))
        g.flags.writeable = False
        kwargs["grad_out"] = g
    sentinel = kwargs.get("grad_out")
    before = sentinel.copy() if isinstance(sentinel, np.ndarray) else None
    logits, target = kwargs.pop("logits"), kwargs.pop("target")
    with pytest.raises(exc, match=fragment):
        sc.cross_entropy(logits, target, **kwargs)
    if before is not None:
        np.testing.assert_array_equal(sentinel, before)
