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

# Name of the kernel variant in use ("baseline", "avx2", "avx512").
cdef const char *isa_name() noexcept nogil
