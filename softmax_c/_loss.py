"""Fused softmax cross-entropy and the softmax / log_softmax backward passes.

Argument checking and the NumPy-facing rules live here; the work is done
by the C kernels through ``_core`` (one read pass for the row statistics,
one pass writing the gradient, the GIL released).  Nothing the size of the
logits is allocated except the gradient itself when no ``grad_out`` is
given (and a scratch array when ``grad_out`` partially overlaps an input).
"""
import numbers
import operator

import numpy as np

from . import _core
from ._api import (_as_input, _asarray, _check_out, _check_threads, _fast_threads,
                   _is_plain_input, _is_plain_out, _merged_out_view, _needs_temporary,
                   _normalize_axes, _normalize_axis, _single_axis_view, _unmerge)

__all__ = ["cross_entropy", "softmax_backward", "log_softmax_backward"]

_REDUCTIONS = {"none": _core.REDUCE_NONE, "mean": _core.REDUCE_MEAN, "sum": _core.REDUCE_SUM}
_INT64 = np.dtype(np.int64)


# ---- argument checking ---------------------------------------------------

def _check_class_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int (the class axis); got {axis!r}")
    return _normalize_axis(axis, ndim)


def _check_reduction(reduction):
    if not isinstance(reduction, str):
        raise TypeError(f"reduction must be a str ('none', 'mean' or 'sum'); "
                        f"got {type(reduction).__name__}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum'; got {reduction!r}")
    return _REDUCTIONS[reduction]


def _check_label_smoothing(label_smoothing):
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"label_smoothing must be a real number in [0, 1]; "
                        f"got {label_smoothing!r}")
    eps = float(label_smoothing)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    return eps


def _check_ignore_index(ignore_index):
    if isinstance(ignore_index, bool):
        raise TypeError("ignore_index must be an int; got a bool")
    try:
        value = operator.index(ignore_index)
    except TypeError:
        raise TypeError(f"ignore_index must be an int; got {ignore_index!r}") from None
    if not -2**63 <= value < 2**63:
        raise ValueError(f"ignore_index must fit in int64; got {value}")
    return value


def _check_weight(weight, n_classes, dtype):
    """Class weights as a contiguous array of the logits' dtype."""
    w = _asarray(weight, "weight")
    if w.dtype.kind not in "iuf":
        raise TypeError(f"weight must be a real numeric array; got dtype {w.dtype}")
    if w.shape != (n_classes,):
        raise ValueError(f"weight must have shape ({n_classes},) (one per class); "
                         f"got {w.shape}")
    return np.ascontiguousarray(w, dtype=dtype)


def _labels_as_int64(t):
    """Integer class indices as int64, copied only when not int64 already."""
    if t.dtype == _INT64:
        return t
    if t.dtype.kind == "u" and t.size and t.max() > np.iinfo(np.int64).max:
        pos = np.unravel_index(int(np.argmax(t > np.iinfo(np.int64).max)), t.shape)
        raise ValueError(f"target: class index {int(t[pos])} at position {pos} "
                         f"is out of range")
    return t.astype(np.int64)


def _check_target(target, arr, axis):
    """(labels, probs): exactly one is an array, checked against logits."""
    t = _asarray(target, "target")
    label_shape = arr.shape[:axis] + arr.shape[axis + 1:]
    if t.dtype.kind == "f":
        if t.shape != arr.shape:
            raise ValueError(f"target: class probabilities must have the shape of logits "
                             f"{arr.shape}; got {t.shape}")
        if t.dtype.newbyteorder("=") == arr.dtype:
            t = t.astype(arr.dtype)          # byte-swapped: to native order
        if t.dtype != arr.dtype:
            raise TypeError(f"target: class probabilities must have the dtype of logits "
                            f"({arr.dtype}); got {t.dtype}")
        return None, t
    if t.dtype.kind in "iu":
        if t.shape != label_shape:
            raise ValueError(f"target: class indices must have the shape of logits without "
                             f"axis {axis}, {label_shape}; got {t.shape}")
        return _labels_as_int64(t), None
    raise TypeError(f"target must hold integer class indices or floating class "
                    f"probabilities; got dtype {t.dtype}")


def _label_error(labels, ignore_index, n_classes):
    """ValueError naming the first (C order) out-of-range label."""
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= n_classes))
    pos = tuple(int(i) for i in np.argwhere(bad)[0]) if labels.ndim else ()
    return ValueError(f"target: class index {int(labels[pos])} at position {pos} is out of "
                      f"range [0, {n_classes}) and is not ignore_index ({ignore_index})")


def _may_clobber(out, aliasable, untouchable):
    """True when writing `out` in the kernel could change an input it still
    needs.  Exact aliasing of a logits-shaped input is safe (the kernel
    reads each element before writing it); labels and weights are read
    again after other rows were written, so they must not overlap at all."""
    return (any(a is not None and a is not out and _needs_temporary(a, out)
                for a in aliasable)
            or any(a is not None and np.may_share_memory(a, out) for a in untouchable))


# ---- cross-entropy -------------------------------------------------------

def cross_entropy(logits, target, axis=-1, *, weight=None, ignore_index=-100,
                  reduction="mean", label_smoothing=0.0, return_grad=False, grad_out=None,
                  threads=None):
    """Softmax cross-entropy of `logits` against `target`, and its gradient.

    The semantics of ``torch.nn.functional.cross_entropy``, except that the
    class axis is `axis` (default last, as in JAX/optax) instead of dim 1.
    Loss and gradient come from one fused C kernel (one read pass for the
    row's max / sum of exp, one pass writing the gradient); the loss is
    ``logsumexp(x) - x[target]``, never ``log(softmax)``, so it stays finite
    for large logits.

    Parameters
    ----------
    logits : array_like
        Unnormalised scores, at least 1-d.  float32 is computed in and
        returns float32, float64 float64 (float16 and integers as for
        `softmax`).  Any strides.
    target : array_like
        Either integer class indices (any integer dtype) with the shape of
        `logits` without `axis`, or class probabilities with the shape and
        dtype of `logits`.
    axis : int, default -1
        The class axis.
    weight : array_like, optional
        One weight per class (length = number of classes).
    ignore_index : int, default -100
        Integer targets equal to it contribute neither loss nor gradient
        (not used with probability targets).
    reduction : {"mean", "sum", "none"}, default "mean"
        "none": per-sample losses; "sum": their sum; "mean": integer
        targets: the sum divided by the summed weights ``weight[target]``
        of the targets not ignored (by their count without `weight`);
        probability targets: the sum divided by the number of samples.
        Sums are taken in float64 in a fixed order.
    label_smoothing : float in [0, 1], default 0.0
        Mixes the target with the uniform distribution, with PyTorch's
        formula (with `weight` too).
    return_grad : bool, default False
        Also return the gradient.
    grad_out : ndarray, optional
        Receives the gradient (shape and dtype of the computed logits,
        writeable, any strides); the gradient is computed whenever it is
        given.  It may be `logits` itself: the gradient then overwrites the
        logits and nothing logits-sized is allocated.
    threads : int, optional
        As for `softmax`.  The result is bitwise identical for every
        thread count.

    Returns
    -------
    loss : scalar or ndarray
        A NumPy scalar of the logits' dtype for "mean" and "sum", an array
        of the target shape for "none".
    grad : ndarray
        Only with ``return_grad=True``: the derivative of the returned loss
        (for "none": of its sum) with respect to `logits`; `grad_out` when
        given.

    Raises
    ------
    ValueError
        An integer target outside ``[0, n_classes)`` that is not
        `ignore_index` (naming the first such position and value; nothing
        is written to `grad_out`), wrong target or weight shape, unknown
        `reduction`, `label_smoothing` outside [0, 1], an empty class axis.
    TypeError
        Arguments of the wrong type, probability targets of another dtype.

    Notes
    -----
    If every target is ignored, "mean" returns NaN (0 / 0, as PyTorch) and
    the gradient is all zeros.  Rows with NaN or +inf logits give NaN.

    Examples
    --------
    >>> import numpy as np, softmax_c
    >>> x = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(float(softmax_c.cross_entropy(x, [0, 1])), 6)
    0.669079
    """
    fast = _plain_cross_entropy(logits, target, axis, weight, ignore_index, reduction,
                                label_smoothing, return_grad, grad_out, threads)
    if fast is not None:
        return fast
    arr = _as_input(logits, "logits")
    if arr.ndim == 0:
        raise ValueError("logits must have at least one dimension (the class axis)")
    ax = _check_class_axis(axis, arr.ndim)
    n_classes = arr.shape[ax]
    code = _check_reduction(reduction)
    eps = _check_label_smoothing(label_smoothing)
    ignore = _check_ignore_index(ignore_index)
    nthreads = _check_threads(threads)
    if n_classes == 0:
        raise ValueError(f"logits: the class axis {ax} has length 0")
    labels, probs = _check_target(target, arr, ax)
    w = None if weight is None else _check_weight(weight, n_classes, arr.dtype)
    if grad_out is not None:
        _check_out(grad_out, arr.shape, arr.dtype, "grad_out")

    grad = grad_out
    if grad is None and return_grad:
        grad = _core.output_like(arr)
    work_grad = grad
    if grad_out is not None and _may_clobber(grad_out, (arr, probs), (labels, w)):
        work_grad = _core.output_like(arr)
    return _run_cross_entropy(arr, labels, probs, w, grad, work_grad, ax, ignore, eps, code,
                              return_grad, nthreads)


def _run_cross_entropy(x, labels, probs, w, grad, work_grad, ax, ignore, eps, code,
                       return_grad, nthreads):
    """The kernel call and the result of cross_entropy for checked arguments;
    the gradient is computed into work_grad, then copied to grad if they
    differ."""
    loss = np.empty(x.shape[:ax] + x.shape[ax + 1:], dtype=x.dtype) \
        if code == _core.REDUCE_NONE else None
    total, bad_row = _core.run_cross_entropy(x, labels, probs, w, work_grad, loss, ax,
                                             ignore, eps, code, nthreads)
    if bad_row >= 0:
        raise _label_error(labels, ignore, x.shape[ax])
    if work_grad is not grad:
        np.copyto(grad, work_grad)
    value = loss if loss is not None else x.dtype.type(total)
    return (value, grad) if return_grad else value


def _plain_cross_entropy(x, target, axis, weight, ignore_index, reduction, label_smoothing,
                         return_grad, grad_out, threads):
    """cross_entropy for the common call, or None for every other one (see
    _api._is_plain_input): plain logits, int64 class indices of the right
    shape, no weights, plain option values, and grad_out None, the logits
    themselves (in place) or an array sharing memory with neither input."""
    if not (_is_plain_input(x, axis) and type(target) is np.ndarray
            and target.dtype == _INT64 and weight is None and type(ignore_index) is int
            and -2**63 <= ignore_index < 2**63 and type(reduction) is str
            and type(label_smoothing) is float and 0.0 <= label_smoothing <= 1.0
            and type(return_grad) is bool):
        return None
    code = _REDUCTIONS.get(reduction)
    nthreads = _fast_threads(threads)
    ax = axis % x.ndim
    label_shape = x.shape[:ax] + x.shape[ax + 1:]
    if code is None or nthreads is None or x.shape[ax] == 0 or target.shape != label_shape:
        return None
    if grad_out is not None and not (_is_plain_out(grad_out, x, x.shape)
                                     and not np.may_share_memory(target, grad_out)):
        return None
    grad = _core.output_like(x) if grad_out is None and return_grad else grad_out
    return _run_cross_entropy(x, target, None, None, grad, grad, ax, ignore_index,
                              label_smoothing, code, return_grad, nthreads)


# ---- backward passes -----------------------------------------------------

def _backward(op, y, dy, axis, out, threads):
    if (_is_plain_input(y, axis) and type(dy) is np.ndarray and dy.dtype == y.dtype
            and dy.shape == y.shape and y.size):
        nthreads = _fast_threads(threads)         # the common call (see _api)
        if nthreads is not None and (out is None or (
                _is_plain_out(out, y, y.shape) and not np.may_share_memory(dy, out))):
            result = _core.output_like(y) if out is None else out
            _core.run_backward(op, y, dy, result, axis % y.ndim, nthreads)
            return result
    ya, da = _as_input(y, "y"), _as_input(dy, "dy")
    dtype = np.promote_types(ya.dtype, da.dtype)
    ya, da = ya.astype(dtype, copy=False), da.astype(dtype, copy=False)
    if ya.shape != da.shape:
        raise ValueError(f"dy must have the shape of y {ya.shape}; got {da.shape}")
    axes = _normalize_axes(axis, ya.ndim)
    nthreads = _check_threads(threads)
    if out is not None:
        _check_out(out, ya.shape, dtype)
    result = _core.output_like(ya) if out is None else out
    if ya.size == 0:
        return result
    work_y, work_dy, work_out = ya, da, result
    if len(axes) == 0:                 # every element is its own row of one
        work_y, work_dy, work_out = ya[..., None], da[..., None], result[..., None]
        axes = (ya.ndim,)
    if out is not None and any(a is not out and _needs_temporary(a, out) for a in (ya, da)):
        scratch = _core.output_like(work_y)
        _run_backward(op, work_y, work_dy, axes, scratch, nthreads)
        np.copyto(work_out, scratch)
    else:
        _run_backward(op, work_y, work_dy, axes, work_out, nthreads)
    return result


def _run_backward(op, y, dy, axes, result, nthreads):
    yv, ax = _single_axis_view(y, axes)
    dv, _ = _single_axis_view(dy, axes)
    merged = _merged_out_view(result, axes)
    if merged is None:          # result's layout can't be merged: compute aside
        scratch = _core.output_empty(yv.shape, y.dtype)
        _core.run_backward(op, yv, dv, scratch, ax, nthreads)
        result[...] = _unmerge(scratch, y.shape, axes)
        return
    _core.run_backward(op, yv, dv, merged[0], ax, nthreads)


_DOC_BACKWARD = """
    y : array_like
        The forward output, float32 or float64 (other dtypes as for
        `softmax`).
    dy : array_like
        Gradient of a loss with respect to `y`, same shape.  If y and dy
        differ in dtype, both are computed in the wider one.
    axis : int, tuple of ints or None, default -1
        The axis (or axes) the forward op normalised over.
    out : ndarray, optional
        Where to write the result (same shape and dtype, writeable, any
        strides); may be `y` or `dy` itself, or overlap them in any way.
    threads : int, optional
        As for `softmax`; results do not depend on it.

    Returns
    -------
    ndarray
        The gradient with respect to the forward op's input, shape of `y`;
        `out` if it was given."""


def softmax_backward(y, dy, axis=-1, *, out=None, threads=None):
    return _backward(_core.SOFTMAX, y, dy, axis, out, threads)


softmax_backward.__doc__ = """Gradient through softmax: ``y * (dy - sum(dy * y, axis))``.

    `y` is the softmax output; the result is the gradient with respect to
    the softmax input.  One C pass for the row sum (accumulated in float64
    across blocks) and one writing the result.

    Parameters
    ----------""" + _DOC_BACKWARD + """

    Examples
    --------
    >>> import softmax_c
    >>> y = softmax_c.softmax([1.0, 2.0])
    >>> softmax_c.softmax_backward(y, [1.0, 1.0])
    array([0., 0.])
    """


def log_softmax_backward(y, dy, axis=-1, *, out=None, threads=None):
    return _backward(_core.LOG_SOFTMAX, y, dy, axis, out, threads)


log_softmax_backward.__doc__ = """Gradient through log_softmax: ``dy - exp(y) * sum(dy, axis)``.

    `y` is the log_softmax output; the result is the gradient with respect
    to the log_softmax input.  ``-inf`` entries of `y` (masked classes)
    give ``dy`` unchanged.

    Parameters
    ----------""" + _DOC_BACKWARD + """

    Examples
    --------
    >>> import softmax_c
    >>> y = softmax_c.log_softmax([0.0, 0.0])
    >>> softmax_c.log_softmax_backward(y, [1.0, 0.0])
    array([ 0.5, -0.5])
    """
