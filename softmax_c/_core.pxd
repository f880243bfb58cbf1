# Cython-level API of softmax_c, for other Cython extensions:
#
#     from softmax_c._core cimport softmax_f32, OK
#
# These are C functions of the installed softmax_c._core module: Cython
# fetches their addresses from the module (its __pyx_capi__) when your
# extension is imported, so there is nothing to link against and no header
# to find.  They take raw pointers, never touch Python objects and never
# raise: call them inside `with nogil:`.  Semantics, units and return codes
# are those of the C functions of the same name with an `smc_` prefix in
# softmax_c.h (folder: softmax_c.get_include()): sizes in elements, steps
# (strides) in BYTES, threads 0 = automatic, result OK (0) or a negative
# ERR_* code.
from libc.stdint cimport int64_t

# Return codes (the SMC_* values of softmax_c.h).
cdef enum:
    OK = 0
    ERR_NULL = -1       # NULL pointer where data must be read or written
    ERR_SIZE = -2       # negative length or row count, or overflow
    ERR_VALUE = -3      # bad parameter (temperature, threads)
    ERR_LABEL = -4      # class index out of range
    ERR_NOMEM = -5      # scratch memory could not be allocated

# One contiguous row of n elements (y may be x).
cdef int softmax_row_f32(int64_t n, const float *x, float *y) noexcept nogil
cdef int softmax_row_f64(int64_t n, const double *x, double *y) noexcept nogil
cdef int log_softmax_row_f32(int64_t n, const float *x, float *y) noexcept nogil
cdef int log_softmax_row_f64(int64_t n, const double *x, double *y) noexcept nogil
cdef int logsumexp_row_f32(int64_t n, const float *x, float *result) noexcept nogil
cdef int logsumexp_row_f64(int64_t n, const double *x, double *result) noexcept nogil

# A batch of rows: element i of row r is at
# (char *)x + r * x_row_step + i * x_step  (steps in bytes).
cdef int softmax_f32(int64_t rows, int64_t n,
                     const float *x, int64_t x_row_step, int64_t x_step,
                     float *y, int64_t y_row_step, int64_t y_step,
                     double temperature, int threads) noexcept nogil
cdef int softmax_f64(int64_t rows, int64_t n,
                     const double *x, int64_t x_row_step, int64_t x_step,
                     double *y, int64_t y_row_step, int64_t y_step,
                     double temperature, int threads) noexcept nogil
cdef int log_softmax_f32(int64_t rows, int64_t n,
                         const float *x, int64_t x_row_step, int64_t x_step,
                         float *y, int64_t y_row_step, int64_t y_step,
                         double temperature, int threads) noexcept nogil
cdef int log_softmax_f64(int64_t rows, int64_t n,
                         const double *x, int64_t x_row_step, int64_t x_step,
                         double *y, int64_t y_row_step, int64_t y_step,
                         double temperature, int threads) noexcept nogil
# One result per row, at (char *)y + r * y_row_step.
cdef int logsumexp_f32(int64_t rows, int64_t n,
                       const float *x, int64_t x_row_step, int64_t x_step,
                       float *y, int64_t y_row_step, int threads) noexcept nogil
cdef int logsumexp_f64(int64_t rows, int64_t n,
                       const double *x, int64_t x_row_step, int64_t x_step,
                       double *y, int64_t y_row_step, int threads) noexcept nogil

# Fused softmax cross-entropy over a batch of rows (the row is the class
# axis), with integer labels: label of row r at
# (const char *)labels + r * labels_step.  weight: n per-class weights or
# NULL.  reduction: REDUCE_NONE / REDUCE_MEAN / REDUCE_SUM.  grad (may be
# logits itself, or NULL for none) receives d(total)/d(logits); total
# receives the reduced loss (NONE: the sum).  ERR_LABEL for a label outside
# [0, n) that is not ignore_index, before anything is written.
cdef enum:                    # also softmax_c._core.REDUCE_* in Python
    REDUCE_NONE = 0
    REDUCE_MEAN = 1
    REDUCE_SUM = 2
cdef int cross_entropy_f32(int64_t rows, int64_t n,
                           const float *logits, int64_t x_row_step, int64_t x_step,
                           const int64_t *labels, int64_t labels_step,
                           const float *weight, int64_t ignore_index,
                           double label_smoothing, int reduction,
                           float *grad, int64_t g_row_step, int64_t g_step,
                           double *total, int threads) noexcept nogil
cdef int cross_entropy_f64(int64_t rows, int64_t n,
                           const double *logits, int64_t x_row_step, int64_t x_step,
                           const int64_t *labels, int64_t labels_step,
                           const double *weight, int64_t ignore_index,
                           double label_smoothing, int reduction,
                           double *grad, int64_t g_row_step, int64_t g_step,
                           double *total, int threads) noexcept nogil

# Backward passes over a batch of rows (out may be y or dy):
#   softmax_backward:      out = y * (dy - sum(dy * y))   (y = softmax output)
#   log_softmax_backward:  out = dy - exp(y) * sum(dy)    (y = log_softmax output)
cdef int softmax_backward_f32(int64_t rows, int64_t n,
                              const float *y, int64_t y_row_step, int64_t y_step,
                              const float *dy, int64_t dy_row_step, int64_t dy_step,
                              float *out, int64_t out_row_step, int64_t out_step,
                              int threads) noexcept nogil
cdef int softmax_backward_f64(int64_t rows, int64_t n,
                              const double *y, int64_t y_row_step, int64_t y_step,
                              const double *dy, int64_t dy_row_step, int64_t dy_step,
                              double *out, int64_t out_row_step, int64_t out_step,
                              int threads) noexcept nogil
cdef int log_softmax_backward_f32(int64_t rows, int64_t n,
                                  const float *y, int64_t y_row_step, int64_t y_step,
                                  const float *dy, int64_t dy_row_step, int64_t dy_step,
                                  float *out, int64_t out_row_step, int64_t out_step,
                                  int threads) noexcept nogil
cdef int log_softmax_backward_f64(int64_t rows, int64_t n,
                                  const double *y, int64_t y_row_step, int64_t y_step,
                                  const double *dy, int64_t dy_row_step, int64_t dy_step,
                                  double *out, int64_t out_row_step, int64_t out_step,
                                  int threads) noexcept nogil

# Name of the kernel variant in use ("baseline", "avx2", "avx512").
cdef const char *isa_name() noexcept nogil
