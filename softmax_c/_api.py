"""The public functions: argument checking, dtype rules, `out=` handling.

Every function validates its arguments completely before any output is
written, turns the request into (array, single axis, output array) and
hands it to the C kernels through ``_core``.  The input is never copied
for a single-axis reduction, whatever its strides.
"""
import operator

import numpy as np

from . import _core

try:  # NumPy >= 1.25
    from numpy.exceptions import AxisError, TooHardError as _TooHardError
except ImportError:  # pragma: no cover
    from numpy import AxisError, TooHardError as _TooHardError

__all__ = ["softmax", "log_softmax", "logsumexp"]


# ---- argument checking ---------------------------------------------------

def _compute_dtype(dtype, name="x"):
    """The dtype a kernel runs in for input `dtype` (float32 or float64)."""
    if dtype.kind == "f":
        if dtype.itemsize <= 4:
            return np.dtype(np.float32)      # float16 and float32
        if dtype.itemsize == 8:
            return np.dtype(np.float64)
        raise TypeError(f"{name}: {dtype} (extended precision) is not supported; "
                        f"cast to float64")
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    raise TypeError(f"{name} must be a real numeric array; got dtype {dtype}")


def _asarray(x, name):
    """np.asarray(x), with an error that names the argument."""
    try:
        return np.asarray(x)
    except ValueError as exc:       # ragged nested lists
        raise ValueError(f"{name} is not a rectangular array: {exc}") from None


def _as_input(x, name="x"):
    """x as a native-endian float32/float64 array (copied only if converted)."""
    arr = _asarray(x, name)
    dtype = _compute_dtype(arr.dtype, name)
    if arr.dtype != dtype:   # also catches byte-swapped float32/float64
        arr = arr.astype(dtype)
    return arr


def _normalize_axes(axis, ndim):
    """Sorted tuple of the reduced axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        axes = tuple(_normalize_axis(a, ndim) for a in axis)
        if len(set(axes)) != len(axes):
            raise AxisError(f"axis: repeated axis in {axis}")
        return tuple(sorted(axes))
    return (_normalize_axis(axis, ndim),)


def _normalize_axis(axis, ndim):
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an int, a tuple of ints or None; got {axis!r}") from None
    if not -ndim <= a < ndim:
        raise AxisError(a, ndim, "axis")
    return a % ndim


_SAFE_T_MIN, _SAFE_T_MAX = 2.0**-100, 2.0**100   # 1/T is normal in both dtypes


def _check_temperature(temperature, dtype=None):
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise TypeError(f"temperature must be a real number; got {temperature!r}") from None
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be finite and > 0; got {temperature!r}")
    # The kernels multiply by 1/temperature in the compute dtype: it must
    # neither overflow nor round to 0 there (the C layer checks this too).
    # Between 2^-100 and 2^100 it is a normal number of both dtypes; the
    # NumPy check below costs microseconds, more than a small call's work.
    if dtype is not None and not (_SAFE_T_MIN <= t <= _SAFE_T_MAX):
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            inv = np.asarray(1.0 / t).astype(dtype)
        if not (np.isfinite(inv) and inv > 0):
            raise ValueError(f"temperature {temperature!r} is out of range for {dtype}: "
                             f"1/temperature must be a finite, non-zero {dtype} value")
    return t


_MAX_THREADS = 1 << 20          # larger thread counts are clamped to this


def _check_threads(threads, name="threads"):
    if threads is None:
        return 0
    if isinstance(threads, bool):
        raise TypeError(f"{name} must be None or an int >= 1; got a bool")
    try:
        n = operator.index(threads)
    except TypeError:
        raise TypeError(f"{name} must be None or an int >= 1; got {threads!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be None or an int >= 1; got {n}")
    return min(n, _MAX_THREADS)


def _check_out(out, shape, dtype, name="out"):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}; the result has shape {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}; the result has dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")


def _same_layout(a, b):
    if a is b:
        return True
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape)


def _needs_temporary(x, out):
    """True when writing into `out` could clobber input not yet read.

    Exact aliasing (same memory, same strides) is safe: the kernels read a
    row's input before writing the same elements.
    """
    if x is out or not np.may_share_memory(x, out):
        return False
    if _same_layout(x, out):
        return False
    try:
        return np.shares_memory(x, out, max_work=10_000)
    except _TooHardError:
        return True


def _single_axis_view(arr, axes):
    """(view, axis) with the reduced `axes` of arr merged into one axis.

    One axis needs nothing.  Several axes are moved to the end and merged;
    that is a view when their memory layout allows it, a copy otherwise.
    """
    if len(axes) == 1:
        return arr, axes[0]
    keep = [d for d in range(arr.ndim) if d not in axes]
    moved = arr.transpose(keep + list(axes))
    shape = tuple(arr.shape[d] for d in keep) + (int(np.prod([arr.shape[d] for d in axes])),)
    return moved.reshape(shape), len(keep)


def _reshape_view(a, shape):
    """a reshaped to `shape` as a view, or None when that needs a copy."""
    view = a.view()
    try:
        view.shape = shape      # raises instead of copying
    except AttributeError:
        return None
    return view


def _merged_out_view(out, axes):
    """Like _single_axis_view for `out`, or None when that needs a copy."""
    if len(axes) == 1:
        return out, axes[0]
    keep = [d for d in range(out.ndim) if d not in axes]
    moved = out.transpose(keep + list(axes))
    # the merged length spelled out: -1 is ambiguous when the array is empty
    merged = int(np.prod([out.shape[d] for d in axes]))
    view = _reshape_view(moved, tuple(out.shape[d] for d in keep) + (merged,))
    return None if view is None else (view, len(keep))


# ---- the common call, without the general checks ---------------------------

_NATIVE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _fast_threads(threads):
    """_check_threads(threads) for None or a plain int >= 1, else None."""
    if threads is None:
        return 0
    if type(threads) is int and threads >= 1:
        return min(threads, _MAX_THREADS)
    return None


def _is_plain_out(out, x, shape):
    """True when out (not None) can take the result directly: a writeable
    ndarray of the result's `shape` and x's dtype that is x itself or shares
    no memory with it."""
    return (type(out) is np.ndarray and out.shape == shape and out.dtype == x.dtype
            and out.flags.writeable and (out is x or not np.may_share_memory(x, out)))


def _is_plain_input(x, axis):
    """True for the call most code makes: a native-endian float32/float64
    ndarray (not a subclass) and one int axis in range.  Such calls skip the
    general argument handling, which costs several microseconds, more than
    the kernel itself on a small array; every other call takes it, and it
    raises the errors."""
    return (type(x) is np.ndarray and x.dtype in _NATIVE_DTYPES and type(axis) is int
            and -x.ndim <= axis < x.ndim)


# ---- softmax and log_softmax --------------------------------------------

def _softmax_like(op, x, axis, temperature, out, threads):
    if (_is_plain_input(x, axis) and type(temperature) is float
            and _SAFE_T_MIN <= temperature <= _SAFE_T_MAX):
        nthreads = _fast_threads(threads)
        if nthreads is not None and (out is None or _is_plain_out(out, x, x.shape)):
            result = _core.output_like(x) if out is None else out
            _core.run(op, x, result, axis % x.ndim, temperature, nthreads)
            return result
    arr = _as_input(x)
    axes = _normalize_axes(axis, arr.ndim)
    t = _check_temperature(temperature, arr.dtype)
    nthreads = _check_threads(threads)
    if out is not None:
        _check_out(out, arr.shape, arr.dtype)
    result = _core.output_like(arr) if out is None else out
    work_in, work_out = arr, result
    if len(axes) == 0:               # every element is its own row of one
        work_in, work_out, axes = arr[..., None], result[..., None], (arr.ndim,)

    if out is not None and _needs_temporary(arr, out):
        scratch = _core.output_like(work_in)
        _run_softmax_like(op, work_in, axes, scratch, t, nthreads)
        np.copyto(work_out, scratch)
    else:
        _run_softmax_like(op, work_in, axes, work_out, t, nthreads)
    return result


def _run_softmax_like(op, arr, axes, result, t, nthreads):
    xv, ax = _single_axis_view(arr, axes)
    merged = _merged_out_view(result, axes)
    if merged is None:      # result's layout can't be merged: compute aside
        scratch = _core.output_empty(xv.shape, arr.dtype)
        _core.run(op, xv, scratch, ax, t, nthreads)
        result[...] = _unmerge(scratch, arr.shape, axes)
        return
    yv, _ = merged
    _core.run(op, xv, yv, ax, t, nthreads)


def _unmerge(merged, shape, axes):
    keep = [d for d in range(len(shape)) if d not in axes]
    moved_shape = [shape[d] for d in keep] + [shape[d] for d in axes]
    perm = keep + list(axes)
    return merged.reshape(moved_shape).transpose(np.argsort(perm))


_DOC_COMMON = """
    x : array_like
        Input values.  float32 is computed and returned as float32, float64
        as float64; integer and bool input give float64; float16 is
        computed in and returned as float32.  Byte-swapped input works.
        complex, object and string input raise TypeError.
    axis : int, tuple of ints or None, default -1
        Axis (or axes) along which the values form one row.  None: all
        elements form one row (as in SciPy).  Negative values count from
        the end.  Out of range or repeated: numpy.exceptions.AxisError."""


def _shared_doc(fn):
    """Fill the parameter text that every function shares into fn's docstring."""
    fn.__doc__ = fn.__doc__.replace("{x_and_axis}", _DOC_COMMON)
    return fn


@_shared_doc
def softmax(x, axis=-1, *, temperature=1.0, out=None, threads=None):
    """Softmax along an axis: ``exp(x / T) / sum(exp(x / T), axis)``.

    Computed stably (max-shifted, never overflows) in one C kernel.

    Parameters
    ----------{x_and_axis}
    temperature : float, default 1.0
        The result equals ``softmax(x / temperature)`` computed without a
        temporary array.  Must be finite and > 0 (else ValueError).
    out : ndarray, optional
        Where to write the result: same shape and dtype as the result,
        writeable, any strides.  It may be `x` itself (in place) or overlap
        `x` in any other way.
    threads : int, optional
        At most this many threads (default: automatic -- one thread for
        small inputs, up to ``set_num_threads`` for large ones).  The
        result is bitwise identical for every thread count.

    Returns
    -------
    ndarray
        Same shape as `x`; rows sum to 1.  `out` if it was given.

    Notes
    -----
    ``-inf`` entries give exactly 0.  A row of only ``-inf``, a row that
    holds ``+inf`` and a row that holds NaN give NaN throughout.  An empty
    axis gives an empty result.  The GIL is released while computing.

    Examples
    --------
    >>> import softmax_c
    >>> softmax_c.softmax([1.0, 2.0, 3.0]).round(4)
    array([0.09  , 0.2447, 0.6652])
    """
    return _softmax_like(_core.SOFTMAX, x, axis, temperature, out, threads)


@_shared_doc
def log_softmax(x, axis=-1, *, temperature=1.0, out=None, threads=None):
    """Logarithm of the softmax: ``x/T - logsumexp(x/T, axis)``.

    Accurate also where softmax underflows to 0 and where the result is
    close to 0 (the dominant entry of a peaked row).

    Parameters
    ----------{x_and_axis}
    temperature : float, default 1.0
        The result equals ``log_softmax(x / temperature)``; finite and > 0.
    out : ndarray, optional
        As for `softmax`.
    threads : int, optional
        As for `softmax`.

    Returns
    -------
    ndarray
        Same shape as `x`.  `out` if it was given.

    Notes
    -----
    ``-inf`` entries give ``-inf``.  A row of only ``-inf``, a row that
    holds ``+inf`` and a row that holds NaN give NaN throughout.

    Examples
    --------
    >>> import softmax_c
    >>> softmax_c.log_softmax([1000.0, 1.0])
    array([   0., -999.])
    """
    return _softmax_like(_core.LOG_SOFTMAX, x, axis, temperature, out, threads)


# ---- logsumexp -----------------------------------------------------------

@_shared_doc
def logsumexp(x, axis=-1, *, b=None, keepdims=False, return_sign=False, out=None,
              threads=None):
    """``log(sum(b * exp(x), axis))``, computed stably.

    Follows ``scipy.special.logsumexp`` for `b`, `keepdims` and
    `return_sign`, except that the default `axis` is -1 (SciPy's is None,
    the whole array).

    Parameters
    ----------{x_and_axis}
    b : array_like, optional
        Weights broadcastable to `x`.  Terms with ``b == 0`` are left out
        (even where x is inf or NaN).  May be negative: the sum is then
        signed, see `return_sign`.
    keepdims : bool, default False
        Keep the reduced axes as dimensions of length 1.
    return_sign : bool, default False
        Return ``(log|sum|, sign(sum))``.  Without it a negative weighted
        sum gives NaN (as SciPy does).
    out : ndarray, optional
        Receives the value (not the sign): shape of the result, same dtype,
        writeable, any strides.
    threads : int, optional
        As for `softmax`.

    Returns
    -------
    value : ndarray or scalar
        A NumPy scalar when the result is 0-d and `out` is not given.
    sign : ndarray or scalar
        Only with ``return_sign=True``: +1, -1, 0 (sum is 0) or NaN.

    Notes
    -----
    An empty axis gives ``-inf``; a row of only ``-inf`` gives ``-inf``; a
    row holding ``+inf`` gives ``+inf``; NaN gives NaN.

    Examples
    --------
    >>> import softmax_c
    >>> float(softmax_c.logsumexp([1000.0, 1000.0]))
    1000.6931471805599
    """
    if (b is None and not return_sign and _is_plain_input(x, axis)
            and type(keepdims) is bool and (out is None or not keepdims)):
        nthreads = _fast_threads(threads)
        ax = axis % x.ndim
        reduced = x.shape[:ax] + x.shape[ax + 1:]
        if nthreads is not None and (out is None or _is_plain_out(out, x, reduced)):
            value = np.empty(reduced, dtype=x.dtype) if out is None else out
            _core.run(_core.LOGSUMEXP, x, value, ax, 1.0, nthreads)
            if out is not None:
                return out
            if keepdims:
                return value.reshape(x.shape[:ax] + (1,) + x.shape[ax + 1:])
            return value[()] if value.ndim == 0 else value
    arr = _as_input(x)
    axes = _normalize_axes(axis, arr.ndim)
    nthreads = _check_threads(threads)
    weights = None
    if b is not None:
        bw = _asarray(b, "b")
        _compute_dtype(bw.dtype, "b")
        try:
            shape = np.broadcast_shapes(bw.shape, arr.shape)
        except ValueError:
            raise ValueError(f"b with shape {bw.shape} does not broadcast to x's shape "
                             f"{arr.shape}") from None
        if shape != arr.shape:
            raise ValueError(f"b with shape {bw.shape} does not broadcast to x's shape "
                             f"{arr.shape}")
        # cast before broadcasting, so a small b stays small
        weights = np.broadcast_to(bw.astype(arr.dtype, copy=False), arr.shape)
    kept_shape = tuple(1 if d in axes else s for d, s in enumerate(arr.shape))
    result_shape = kept_shape if keepdims else tuple(
        s for d, s in enumerate(arr.shape) if d not in axes)
    if out is not None:
        _check_out(out, result_shape, arr.dtype)

    if len(axes) == 0:
        arr, axes = arr[..., None], (arr.ndim,)
        if weights is not None:
            weights = weights[..., None]
    xv, ax = _single_axis_view(arr, axes)
    reduced_shape = xv.shape[:ax] + xv.shape[ax + 1:]

    target = None            # out itself in the kernel's shape, when possible
    if out is not None and not _needs_temporary(arr, out) and not (
            weights is not None and _needs_temporary(weights, out)):
        target = _reshape_view(out, reduced_shape)
    value = np.empty(reduced_shape, dtype=arr.dtype) if target is None else target
    sign = None
    if weights is None:
        _core.run(_core.LOGSUMEXP, xv, value, ax, 1.0, nthreads)
    else:
        bv, _ = _single_axis_view(weights, axes)
        if return_sign:
            sign = np.empty(reduced_shape, dtype=arr.dtype)
        _core.run_weighted(xv, bv, value, sign, ax, nthreads)
    if return_sign and sign is None:
        # without weights the sum is positive, or 0 for an empty or all -inf
        # row; NaN stays NaN (as SciPy)
        sign = np.where(np.isnan(value), np.nan,
                        np.where(value == -np.inf, 0.0, 1.0)).astype(arr.dtype)

    if out is not None:
        if target is None:
            out[...] = value.reshape(out.shape)
        value = out
    else:
        value = value.reshape(result_shape)
        if value.ndim == 0:
            value = value[()]
    if return_sign:
        sign = sign.reshape(result_shape)
        if sign.ndim == 0:
            sign = sign[()]
        return value, sign
    return value
