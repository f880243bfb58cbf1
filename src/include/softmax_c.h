/*
 * softmax_c.h - public C API of softmax_c.
 *
 * Numerically stable softmax, log_softmax and logsumexp over float32 and
 * float64 rows, for C programs and Cython/C extensions.  No Python needed.
 *
 * Conventions
 *   - Every row is reduced independently; a row has `n` elements.
 *   - Sizes are int64_t; negative sizes are rejected with SMC_ERR_SIZE.
 *   - Strides ("steps") are in BYTES, as NumPy reports them, and may be
 *     zero or negative.  Pointers need no particular alignment.
 *   - The output may be the input itself (same pointer and strides).  Any
 *     other overlap between input and output is not supported in C.
 *   - Every function returns SMC_OK (0) or a negative SMC_ERR_* code; they
 *     never abort, print or allocate per element.
 *   - `threads`: 0 = automatic (one thread for small work, up to the limit
 *     set by smc_set_num_threads for large work); k > 0 = at most k.
 *     Results are bitwise identical for every thread count.
 *   - Special values: -inf entries give exact 0 (softmax) / -inf
 *     (log_softmax).  A row of only -inf gives NaN in softmax/log_softmax
 *     and -inf in logsumexp.  A row holding +inf gives NaN in softmax and
 *     log_softmax and +inf in logsumexp.  NaN anywhere makes the row NaN.
 *     An empty row (n == 0) gives logsumexp -inf.
 */
#ifndef SOFTMAX_C_H
#define SOFTMAX_C_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOFTMAX_C_VERSION "0.1.0"

/* Error codes. */
#define SMC_OK            0
#define SMC_ERR_NULL     -1  /* NULL pointer where data must be read or written */
#define SMC_ERR_SIZE     -2  /* negative length or row count, or too many dims */
#define SMC_ERR_VALUE    -3  /* bad parameter (temperature not finite and > 0, ...) */
#define SMC_ERR_LABEL    -4  /* class index out of range */
#define SMC_ERR_NOMEM    -5  /* could not allocate scratch memory */

/* Largest number of outer (non-reduced) dimensions of the nd entry points. */
#define SMC_MAX_DIMS 64

/* ---- One contiguous row -------------------------------------------------- */
int smc_softmax_row_f32(int64_t n, const float *x, float *y);
int smc_softmax_row_f64(int64_t n, const double *x, double *y);
int smc_log_softmax_row_f32(int64_t n, const float *x, float *y);
int smc_log_softmax_row_f64(int64_t n, const double *x, double *y);
/* Writes log(sum(exp(x))) to *result. */
int smc_logsumexp_row_f32(int64_t n, const float *x, float *result);
int smc_logsumexp_row_f64(int64_t n, const double *x, double *result);

/* ---- A batch of rows --------------------------------------------------------
 * Element i of row r of x is at  (char *)x + r * x_row_step + i * x_step.
 * `temperature` divides x before the op (1.0 for the plain op).          */
int smc_softmax_f32(int64_t rows, int64_t n,
                    const float *x, int64_t x_row_step, int64_t x_step,
                    float *y, int64_t y_row_step, int64_t y_step,
                    double temperature, int threads);
int smc_softmax_f64(int64_t rows, int64_t n,
                    const double *x, int64_t x_row_step, int64_t x_step,
                    double *y, int64_t y_row_step, int64_t y_step,
                    double temperature, int threads);
int smc_log_softmax_f32(int64_t rows, int64_t n,
                        const float *x, int64_t x_row_step, int64_t x_step,
                        float *y, int64_t y_row_step, int64_t y_step,
                        double temperature, int threads);
int smc_log_softmax_f64(int64_t rows, int64_t n,
                        const double *x, int64_t x_row_step, int64_t x_step,
                        double *y, int64_t y_row_step, int64_t y_step,
                        double temperature, int threads);
/* One result per row: row r's result goes to (char *)y + r * y_row_step. */
int smc_logsumexp_f32(int64_t rows, int64_t n,
                      const float *x, int64_t x_row_step, int64_t x_step,
                      float *y, int64_t y_row_step, int threads);
int smc_logsumexp_f64(int64_t rows, int64_t n,
                      const double *x, int64_t x_row_step, int64_t x_step,
                      double *y, int64_t y_row_step, int threads);

/* ---- Any strided array (what the Python layer uses) -------------------------
 * The rows form an outer grid of `ndim` dimensions (ndim == 0: one row).
 * Row (i_0, ..., i_{ndim-1}) of operand A starts at
 *     A.data + sum_k i_k * A.strides[k]
 * and its elements are A.step bytes apart.                                  */
typedef struct smc_grid {
    int64_t n;                          /* elements per row */
    int32_t ndim;                       /* outer dimensions, 0..SMC_MAX_DIMS */
    int64_t shape[SMC_MAX_DIMS];        /* outer shape */
} smc_grid;

typedef struct smc_array {
    void   *data;
    int64_t step;                       /* bytes between elements of a row */
    int64_t strides[SMC_MAX_DIMS];      /* bytes, per outer dimension */
} smc_array;

int smc_softmax_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *y,
                       double temperature, int threads);
int smc_softmax_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *y,
                       double temperature, int threads);
int smc_log_softmax_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *y,
                           double temperature, int threads);
int smc_log_softmax_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *y,
                           double temperature, int threads);
/* y.step is ignored: one value per row. */
int smc_logsumexp_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *y,
                         int threads);
int smc_logsumexp_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *y,
                         int threads);
/* Weighted: log|sum(b * exp(x))|, with the sign of the sum in `sign` (may be
 * NULL data) as +1, -1 or 0.  Terms with b == 0 are left out entirely.
 * b has the row layout of x (zero strides broadcast).                      */
int smc_logsumexp_weighted_nd_f32(const smc_grid *g, const smc_array *x,
                                  const smc_array *b, const smc_array *y,
                                  const smc_array *sign, int threads);
int smc_logsumexp_weighted_nd_f64(const smc_grid *g, const smc_array *x,
                                  const smc_array *b, const smc_array *y,
                                  const smc_array *sign, int threads);

/* ---- Runtime: CPU variant and threads -------------------------------------- */
/* Name of the kernel variant in use: "baseline", "avx2" or "avx512". */
const char *smc_active_isa(void);
/* 1 if this CPU and OS can run the named variant (and it was compiled in). */
int smc_isa_available(const char *name);
/* Switch variant; SMC_ERR_VALUE if unknown or not available here. */
int smc_set_isa(const char *name);
/* Upper bound on threads used by automatic calls (n >= 1). */
int smc_set_num_threads(int n);
int smc_get_num_threads(void);

/* Exponential of n contiguous values with the active variant's vector exp
 * (exposed for accuracy testing). */
int smc_exp_f32(int64_t n, const float *x, float *y);
int smc_exp_f64(int64_t n, const double *x, double *y);

#ifdef __cplusplus
}
#endif
#endif /* SOFTMAX_C_H */
