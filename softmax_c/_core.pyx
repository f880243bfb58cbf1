# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Bridge from validated NumPy arrays to the C kernels.

The Python layer (_api.py) has already checked every argument, converted the
dtype and allocated the output.  Here an (array, axis) pair becomes the C
"grid" description -- row length and element step along the reduced axis,
plus the outer dimensions with their byte strides -- and the kernel runs
with the GIL released.  No data is copied.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t
from softmax_c.csoftmax cimport *

cnp.import_array()

cdef enum:
    OP_SOFTMAX = 0
    OP_LOG_SOFTMAX = 1
    OP_LOGSUMEXP = 2

SOFTMAX = OP_SOFTMAX
LOG_SOFTMAX = OP_LOG_SOFTMAX
LOGSUMEXP = OP_LOGSUMEXP


cdef int _build(cnp.ndarray x, cnp.ndarray y, int axis, bint y_has_axis,
                smc_grid *g, smc_array *ax, smc_array *ay) except -1:
    """Describe x (reduced over `axis`) and y as a grid of rows.

    Outer dimensions of extent 1 are dropped, the rest are ordered by
    decreasing |x stride| (so the innermost has the smallest stride, which
    lets the kernel use its column mode when that stride is one element),
    and neighbours that are contiguous in both x and y are merged.
    """
    cdef int nd = cnp.PyArray_NDIM(x)
    cdef cnp.npy_intp *xshape = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp *xstr = cnp.PyArray_STRIDES(x)
    cdef cnp.npy_intp *ystr = cnp.PyArray_STRIDES(y)
    cdef int d, k = 0, yd = 0, i, j
    cdef int64_t ts, tx, ty
    g.n = xshape[axis]
    ax.data = cnp.PyArray_DATA(x)
    ay.data = cnp.PyArray_DATA(y)
    ax.step = xstr[axis]
    ay.step = ystr[axis] if y_has_axis else 0
    for d in range(nd):
        if d == axis:
            if y_has_axis:
                yd += 1
            continue
        if xshape[d] != 1:
            g.shape[k] = xshape[d]
            ax.strides[k] = xstr[d]
            ay.strides[k] = ystr[yd]
            k += 1
        yd += 1
    # insertion sort by decreasing |x stride| (k is small)
    for i in range(1, k):
        j = i
        while j > 0 and abs(ax.strides[j - 1]) < abs(ax.strides[j]):
            ts = g.shape[j]; g.shape[j] = g.shape[j - 1]; g.shape[j - 1] = ts
            tx = ax.strides[j]; ax.strides[j] = ax.strides[j - 1]; ax.strides[j - 1] = tx
            ty = ay.strides[j]; ay.strides[j] = ay.strides[j - 1]; ay.strides[j - 1] = ty
            j -= 1
    # merge dim i-1 into dim i where both arrays step through them evenly
    j = 0
    for i in range(k):
        if (j > 0 and ax.strides[j - 1] == g.shape[i] * ax.strides[i]
                and ay.strides[j - 1] == g.shape[i] * ay.strides[i]):
            g.shape[j - 1] *= g.shape[i]
            ax.strides[j - 1] = ax.strides[i]
            ay.strides[j - 1] = ay.strides[i]
        else:
            g.shape[j] = g.shape[i]
            ax.strides[j] = ax.strides[i]
            ay.strides[j] = ay.strides[i]
            j += 1
    g.ndim = j
    return 0


cdef _check(int rc):
    if rc == SMC_ERR_NOMEM:
        raise MemoryError("softmax_c: out of memory for scratch space")
    if rc != SMC_OK:
        raise RuntimeError(f"softmax_c kernel rejected its arguments (code {rc})")


def run(int op, cnp.ndarray x, cnp.ndarray y, int axis, double temperature, int threads):
    """Softmax-family op of x along `axis` into y (same dtype, float32/64).

    For LOGSUMEXP, y has x's shape without `axis`.
    """
    cdef smc_grid g
    cdef smc_array ax, ay
    cdef int rc
    cdef bint f32 = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32
    _build(x, y, axis, op != OP_LOGSUMEXP, &g, &ax, &ay)
    with nogil:
        if op == OP_SOFTMAX:
            rc = smc_softmax_nd_f32(&g, &ax, &ay, temperature, threads) if f32 else \
                 smc_softmax_nd_f64(&g, &ax, &ay, temperature, threads)
        elif op == OP_LOG_SOFTMAX:
            rc = smc_log_softmax_nd_f32(&g, &ax, &ay, temperature, threads) if f32 else \
                 smc_log_softmax_nd_f64(&g, &ax, &ay, temperature, threads)
        else:
            rc = smc_logsumexp_nd_f32(&g, &ax, &ay, threads) if f32 else \
                 smc_logsumexp_nd_f64(&g, &ax, &ay, threads)
    _check(rc)


def run_weighted(cnp.ndarray x, cnp.ndarray b, cnp.ndarray y, sign, int axis, int threads):
    """Weighted logsumexp of x along `axis`; b has x's shape (may be a
    zero-stride broadcast view); y and sign (None or array) x's shape
    without `axis`."""
    cdef smc_grid g
    cdef smc_array ax, ab, ay, asg
    cdef smc_array *psign = NULL
    cdef int rc, d
    cdef bint f32 = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32
    # Weighted rows are walked plainly (no dim reordering), one outer dim
    # per array dim except `axis`, so all four arrays share one grid.
    cdef int nd = cnp.PyArray_NDIM(x), k = 0, yd = 0
    g.n = cnp.PyArray_DIMS(x)[axis]
    ax.data = cnp.PyArray_DATA(x)
    ab.data = cnp.PyArray_DATA(b)
    ay.data = cnp.PyArray_DATA(y)
    ax.step = cnp.PyArray_STRIDES(x)[axis]
    ab.step = cnp.PyArray_STRIDES(b)[axis]
    ay.step = 0
    if sign is not None:
        asg.data = cnp.PyArray_DATA(sign)
        asg.step = 0
        psign = &asg
    for d in range(nd):
        if d == axis:
            continue
        g.shape[k] = cnp.PyArray_DIMS(x)[d]
        ax.strides[k] = cnp.PyArray_STRIDES(x)[d]
        ab.strides[k] = cnp.PyArray_STRIDES(b)[d]
        ay.strides[k] = cnp.PyArray_STRIDES(y)[k]
        if sign is not None:
            asg.strides[k] = cnp.PyArray_STRIDES(sign)[k]
        k += 1
    g.ndim = k
    with nogil:
        rc = smc_logsumexp_weighted_nd_f32(&g, &ax, &ab, &ay, psign, threads) if f32 else \
             smc_logsumexp_weighted_nd_f64(&g, &ax, &ab, &ay, psign, threads)
    _check(rc)


def vector_exp(cnp.ndarray x, cnp.ndarray y):
    """y = exp(x) with the active variant's vector exp (contiguous arrays)."""
    cdef int rc
    cdef int64_t n = cnp.PyArray_SIZE(x)
    if cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32:
        rc = smc_exp_f32(n, <const float *>cnp.PyArray_DATA(x), <float *>cnp.PyArray_DATA(y))
    else:
        rc = smc_exp_f64(n, <const double *>cnp.PyArray_DATA(x), <double *>cnp.PyArray_DATA(y))
    _check(rc)


# ---- the output cache (output_cache.h) --------------------------------------

cdef extern from "output_cache.h":
    size_t SMC_CACHE_MIN_BYTES
    ctypedef struct smc_output_cache:
        size_t limit, bytes
        int n
        unsigned long long hits, misses
    smc_output_cache smc_cache
    object smc_output_cache_create(size_t limit)
    void smc_output_cache_reset(size_t limit) nogil
    int smc_handler_is_numpy_default(object handler)

# the default limit; softmax_c.set_output_cache and SOFTMAX_C_OUTPUT_CACHE_MB change it
OUTPUT_CACHE_DEFAULT_BYTES = 256 << 20
OUTPUT_CACHE_MIN_BYTES = SMC_CACHE_MIN_BYTES
_cache_handler = smc_output_cache_create(OUTPUT_CACHE_DEFAULT_BYTES)


def set_output_cache(size_t limit):
    """Free the blocks the cache keeps; keep at most `limit` bytes from now on."""
    smc_output_cache_reset(limit)


def output_cache_info():
    return {"limit": smc_cache.limit, "bytes": smc_cache.bytes, "blocks": smc_cache.n,
            "hits": smc_cache.hits, "misses": smc_cache.misses}


cdef object _cache_on():
    """Install the cache's handler in place of NumPy's default one (a handler
    the program installed itself stays); returns the handler to restore."""
    old = cnp.PyDataMem_SetHandler(_cache_handler)
    if not smc_handler_is_numpy_default(old):
        cnp.PyDataMem_SetHandler(old)
    return old


def output_like(cnp.ndarray a):
    """np.empty_like(a), its data from the cache when large."""
    if <size_t>cnp.PyArray_NBYTES(a) < SMC_CACHE_MIN_BYTES:
        return np.empty_like(a)
    old = _cache_on()
    try:
        return np.empty_like(a)
    finally:
        cnp.PyDataMem_SetHandler(old)


def output_empty(shape, dtype):
    """np.empty(shape, dtype), its data from the cache when large."""
    if np.prod(shape, dtype=np.int64) * np.dtype(dtype).itemsize < SMC_CACHE_MIN_BYTES:
        return np.empty(shape, dtype)
    old = _cache_on()
    try:
        return np.empty(shape, dtype)
    finally:
        cnp.PyDataMem_SetHandler(old)


def active_isa():
    return smc_active_isa().decode()


def isa_available(str name):
    return bool(smc_isa_available(name.encode()))


def set_isa(str name):
    return smc_set_isa(name.encode()) == SMC_OK


def set_num_threads(int n):
    return smc_set_num_threads(n) == SMC_OK


def get_num_threads():
    return smc_get_num_threads()


VARIANTS = ("baseline", "avx2", "avx512")
C_VERSION = SOFTMAX_C_VERSION.decode()


# ---- Cython-level API (declared in _core.pxd) ------------------------------
# Thin nogil forwards to the C entry points, so that other Cython extensions
# can `from softmax_c._core cimport softmax_f32` and call the kernels of the
# installed package without linking: Cython exports every C function
# declared in _core.pxd through this module's __pyx_capi__.

# The pxd restates the C return codes so that users need no header.
assert (OK, ERR_NULL, ERR_SIZE, ERR_VALUE, ERR_LABEL, ERR_NOMEM) == \
    (SMC_OK, SMC_ERR_NULL, SMC_ERR_SIZE, SMC_ERR_VALUE, SMC_ERR_LABEL, SMC_ERR_NOMEM)

cdef int softmax_row_f32(int64_t n, const float *x, float *y) noexcept nogil:
    return smc_softmax_row_f32(n, x, y)

cdef int softmax_row_f64(int64_t n, const double *x, double *y) noexcept nogil:
    return smc_softmax_row_f64(n, x, y)

cdef int log_softmax_row_f32(int64_t n, const float *x, float *y) noexcept nogil:
    return smc_log_softmax_row_f32(n, x, y)

cdef int log_softmax_row_f64(int64_t n, const double *x, double *y) noexcept nogil:
    return smc_log_softmax_row_f64(n, x, y)

cdef int logsumexp_row_f32(int64_t n, const float *x, float *result) noexcept nogil:
    return smc_logsumexp_row_f32(n, x, result)

cdef int logsumexp_row_f64(int64_t n, const double *x, double *result) noexcept nogil:
    return smc_logsumexp_row_f64(n, x, result)

cdef int softmax_f32(int64_t rows, int64_t n,
                     const float *x, int64_t x_row_step, int64_t x_step,
                     float *y, int64_t y_row_step, int64_t y_step,
                     double temperature, int threads) noexcept nogil:
    return smc_softmax_f32(rows, n, x, x_row_step, x_step, y, y_row_step, y_step,
                           temperature, threads)

cdef int softmax_f64(int64_t rows, int64_t n,
                     const double *x, int64_t x_row_step, int64_t x_step,
                     double *y, int64_t y_row_step, int64_t y_step,
                     double temperature, int threads) noexcept nogil:
    return smc_softmax_f64(rows, n, x, x_row_step, x_step, y, y_row_step, y_step,
                           temperature, threads)

cdef int log_softmax_f32(int64_t rows, int64_t n,
                         const float *x, int64_t x_row_step, int64_t x_step,
                         float *y, int64_t y_row_step, int64_t y_step,
                         double temperature, int threads) noexcept nogil:
    return smc_log_softmax_f32(rows, n, x, x_row_step, x_step, y, y_row_step, y_step,
                               temperature, threads)

cdef int log_softmax_f64(int64_t rows, int64_t n,
                         const double *x, int64_t x_row_step, int64_t x_step,
                         double *y, int64_t y_row_step, int64_t y_step,
                         double temperature, int threads) noexcept nogil:
    return smc_log_softmax_f64(rows, n, x, x_row_step, x_step, y, y_row_step, y_step,
                               temperature, threads)

cdef int logsumexp_f32(int64_t rows, int64_t n,
                       const float *x, int64_t x_row_step, int64_t x_step,
                       float *y, int64_t y_row_step, int threads) noexcept nogil:
    return smc_logsumexp_f32(rows, n, x, x_row_step, x_step, y, y_row_step, threads)

cdef int logsumexp_f64(int64_t rows, int64_t n,
                       const double *x, int64_t x_row_step, int64_t x_step,
                       double *y, int64_t y_row_step, int threads) noexcept nogil:
    return smc_logsumexp_f64(rows, n, x, x_row_step, x_step, y, y_row_step, threads)

cdef const char *isa_name() noexcept nogil:
    return smc_active_isa()


from libc.string cimport memset


# Batch forms of the loss and backward entry points (see _core.pxd): one
# outer dimension of `rows`, steps in bytes.
cdef inline void _batch_grid(smc_grid *g, int64_t rows, int64_t n) noexcept nogil:
    memset(g, 0, sizeof(smc_grid))
    g.n = n
    g.ndim = 1
    g.shape[0] = rows

cdef inline void _batch_array(smc_array *a, const void *data, int64_t row_step,
                              int64_t step) noexcept nogil:
    memset(a, 0, sizeof(smc_array))
    a.data = <void *>data
    a.step = step
    a.strides[0] = row_step

cdef int cross_entropy_f32(int64_t rows, int64_t n,
                           const float *logits, int64_t x_row_step, int64_t x_step,
                           const int64_t *labels, int64_t labels_step,
                           const float *weight, int64_t ignore_index,
                           double label_smoothing, int reduction,
                           float *grad, int64_t g_row_step, int64_t g_step,
                           double *total, int threads) noexcept nogil:
    cdef smc_grid g
    cdef smc_array x, t, gr
    _batch_grid(&g, rows, n)
    _batch_array(&x, logits, x_row_step, x_step)
    _batch_array(&t, labels, labels_step, 0)
    _batch_array(&gr, grad, g_row_step, g_step)
    return smc_cross_entropy_nd_f32(&g, &x, &t, NULL, weight, ignore_index, label_smoothing,
                                    reduction, &gr, NULL, total, NULL, threads)

cdef int cross_entropy_f64(int64_t rows, int64_t n,
                           const double *logits, int64_t x_row_step, int64_t x_step,
                           const int64_t *labels, int64_t labels_step,
                           const double *weight, int64_t ignore_index,
                           double label_smoothing, int reduction,
                           double *grad, int64_t g_row_step, int64_t g_step,
                           double *total, int threads) noexcept nogil:
    cdef smc_grid g
    cdef smc_array x, t, gr
    _batch_grid(&g, rows, n)
    _batch_array(&x, logits, x_row_step, x_step)
    _batch_array(&t, labels, labels_step, 0)
    _batch_array(&gr, grad, g_row_step, g_step)
    return smc_cross_entropy_nd_f64(&g, &x, &t, NULL, weight, ignore_index, label_smoothing,
                                    reduction, &gr, NULL, total, NULL, threads)

cdef int softmax_backward_f32(int64_t rows, int64_t n,
                              const float *y, int64_t y_row_step, int64_t y_step,
                              const float *dy, int64_t dy_row_step, int64_t dy_step,
                              float *out, int64_t out_row_step, int64_t out_step,
                              int threads) noexcept nogil:
    cdef smc_grid g
    cdef smc_array a, b, o
    _batch_grid(&g, rows, n)
    _batch_array(&a, y, y_row_step, y_step)
    _batch_array(&b, dy, dy_row_step, dy_step)
    _batch_array(&o, out, out_row_step, out_step)
    return smc_softmax_backward_nd_f32(&g, &a, &b, &o, threads)

cdef int softmax_backward_f64(int64_t rows, int64_t n,
                              const double *y, int64_t y_row_step, int64_t y_step,
                              const double *dy, int64_t dy_row_step, int64_t dy_step,
                              double *out, int64_t out_row_step, int64_t out_step,
                              int threads) noexcept nogil:
    cdef smc_grid g
    cdef smc_array a, b, o
    _batch_grid(&g, rows, n)
    _batch_array(&a, y, y_row_step, y_step)
    _batch_array(&b, dy, dy_row_step, dy_step)
    _batch_array(&o, out, out_row_step, out_step)
    return smc_softmax_backward_nd_f64(&g, &a, &b, &o, threads)

cdef int log_softmax_backward_f32(int64_t rows, int64_t n,
                                  const float *y, int64_t y_row_step, int64_t y_step,
                                  const float *dy, int64_t dy_row_step, int64_t dy_step,
                                  float *out, int64_t out_row_step, int64_t out_step,
                                  int threads) noexcept nogil:
    cdef smc_grid g
    cdef smc_array a, b, o
    _batch_grid(&g, rows, n)
    _batch_array(&a, y, y_row_step, y_step)
    _batch_array(&b, dy, dy_row_step, dy_step)
    _batch_array(&o, out, out_row_step, out_step)
    return smc_log_softmax_backward_nd_f32(&g, &a, &b, &o, threads)

cdef int log_softmax_backward_f64(int64_t rows, int64_t n,
                                  const double *y, int64_t y_row_step, int64_t y_step,
                                  const double *dy, int64_t dy_row_step, int64_t dy_step,
                                  double *out, int64_t out_row_step, int64_t out_step,
                                  int threads) noexcept nogil:
    cdef smc_grid g
    cdef smc_array a, b, o
    _batch_grid(&g, rows, n)
    _batch_array(&a, y, y_row_step, y_step)
    _batch_array(&b, dy, dy_row_step, dy_step)
    _batch_array(&o, out, out_row_step, out_step)
    return smc_log_softmax_backward_nd_f64(&g, &a, &b, &o, threads)


# ---- cross-entropy and backward passes ---------------------------------------


# the reduction codes (declared in _core.pxd) for _loss.py
globals().update(REDUCE_NONE=<int>REDUCE_NONE, REDUCE_MEAN=<int>REDUCE_MEAN,
                 REDUCE_SUM=<int>REDUCE_SUM)

cdef enum:
    MAX_OPERANDS = 5


cdef void _swap_dims(smc_grid *g, smc_array *arr, int m, int i, int j) noexcept nogil:
    cdef int a
    cdef int64_t t = g.shape[i]
    g.shape[i] = g.shape[j]
    g.shape[j] = t
    for a in range(m):
        t = arr[a].strides[i]
        arr[a].strides[i] = arr[a].strides[j]
        arr[a].strides[j] = t


cdef int _build_multi(list arrays, list has_axis, int axis, smc_grid *g,
                      smc_array *arr) except -1:
    """_build for several operands sharing one grid of rows.

    arrays[0] is the reference (it has `axis`); the others are None (left
    out: NULL data) or arrays with the reference's shape (has_axis true) or
    its shape without `axis`.  Outer dims of extent 1 are dropped, the rest
    ordered by decreasing |stride| of the reference, and neighbours merged
    where every operand steps through them evenly.
    """
    cdef cnp.ndarray x = arrays[0], op
    cdef int nd = cnp.PyArray_NDIM(x), m = len(arrays)
    cdef cnp.npy_intp *xshape = cnp.PyArray_DIMS(x)
    cdef cnp.npy_intp *strides
    cdef int a, d, k = 0, yd, i, j
    cdef bint mergeable
    assert m <= MAX_OPERANDS
    g.n = xshape[axis]
    for d in range(nd):
        if d != axis and xshape[d] != 1:
            g.shape[k] = xshape[d]
            k += 1
    for a in range(m):
        memset(&arr[a], 0, sizeof(smc_array))
        if arrays[a] is None:
            continue
        op = arrays[a]
        strides = cnp.PyArray_STRIDES(op)
        arr[a].data = cnp.PyArray_DATA(op)
        arr[a].step = strides[axis] if has_axis[a] else 0
        i = 0
        yd = 0
        for d in range(nd):
            if d == axis:
                if has_axis[a]:
                    yd += 1
                continue
            if xshape[d] != 1:
                arr[a].strides[i] = strides[yd]
                i += 1
            yd += 1
    for i in range(1, k):
        j = i
        while j > 0 and abs(arr[0].strides[j - 1]) < abs(arr[0].strides[j]):
            _swap_dims(g, arr, m, j - 1, j)
            j -= 1
    j = 0
    for i in range(k):
        mergeable = j > 0
        for a in range(m):
            if mergeable and arr[a].strides[j - 1] != g.shape[i] * arr[a].strides[i]:
                mergeable = False
        if mergeable:
            g.shape[j - 1] *= g.shape[i]
            for a in range(m):
                arr[a].strides[j - 1] = arr[a].strides[i]
        else:
            g.shape[j] = g.shape[i]
            for a in range(m):
                arr[a].strides[j] = arr[a].strides[i]
            j += 1
    g.ndim = j
    return 0


cdef const smc_array *_operand(smc_array *arr, int a, obj):
    return NULL if obj is None else &arr[a]


def run_cross_entropy(cnp.ndarray x, labels, probs, weight, grad, loss, int axis,
                      int64_t ignore_index, double label_smoothing, int reduction,
                      int threads):
    """Fused cross-entropy of x (class axis `axis`).

    labels: int64 array of x's shape without `axis`, or None; probs: x's
    shape and dtype, or None (exactly one given).  weight: contiguous
    class weights of x's dtype or None.  grad: x's shape and dtype (may be
    x) or None.  loss: per-row losses (x's dtype, shape without `axis`) or
    None.  Returns (total, bad_row); bad_row >= 0 is the grid row of the
    first out-of-range label, and then nothing was written.
    """
    cdef smc_grid g
    cdef smc_array arr[MAX_OPERANDS]
    cdef const smc_array *plabels
    cdef const smc_array *pprobs
    cdef const smc_array *pgrad
    cdef const smc_array *ploss
    cdef const void *pweight = NULL
    cdef double total = 0.0
    cdef int64_t bad_row = -1
    cdef int rc
    cdef bint f32 = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32
    _build_multi([x, labels, probs, grad, loss], [True, False, True, True, False],
                 axis, &g, arr)
    plabels = _operand(arr, 1, labels)
    pprobs = _operand(arr, 2, probs)
    pgrad = _operand(arr, 3, grad)
    ploss = _operand(arr, 4, loss)
    if weight is not None:
        pweight = cnp.PyArray_DATA(<cnp.ndarray>weight)
    with nogil:
        if f32:
            rc = smc_cross_entropy_nd_f32(&g, &arr[0], plabels, pprobs, <const float *>pweight,
                                          ignore_index, label_smoothing, reduction, pgrad,
                                          ploss, &total, &bad_row, threads)
        else:
            rc = smc_cross_entropy_nd_f64(&g, &arr[0], plabels, pprobs, <const double *>pweight,
                                          ignore_index, label_smoothing, reduction, pgrad,
                                          ploss, &total, &bad_row, threads)
    if rc == SMC_ERR_LABEL:
        return total, bad_row
    _check(rc)
    return total, -1


def run_backward(int op, cnp.ndarray y, cnp.ndarray dy, cnp.ndarray out, int axis, int threads):
    """softmax (op SOFTMAX) or log_softmax (LOG_SOFTMAX) backward of y, dy
    along `axis` into out (all three the same shape and dtype)."""
    cdef smc_grid g
    cdef smc_array arr[MAX_OPERANDS]
    cdef int rc
    cdef bint f32 = cnp.PyArray_TYPE(y) == cnp.NPY_FLOAT32
    _build_multi([y, dy, out], [True, True, True], axis, &g, arr)
    with nogil:
        if op == OP_SOFTMAX:
            rc = smc_softmax_backward_nd_f32(&g, &arr[0], &arr[1], &arr[2], threads) if f32 else \
                 smc_softmax_backward_nd_f64(&g, &arr[0], &arr[1], &arr[2], threads)
        else:
            rc = smc_log_softmax_backward_nd_f32(&g, &arr[0], &arr[1], &arr[2], threads) if f32 \
                 else smc_log_softmax_backward_nd_f64(&g, &arr[0], &arr[1], &arr[2], threads)
    _check(rc)
