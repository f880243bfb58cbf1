/*
 * softmax_c.h - public C API of softmax_c.
 *
 * Numerically stable softmax, log_softmax and logsumexp over float32 and
 * float64 rows, for C programs and Cython/C extensions.  No Python needed.
 *
 * Build: `make lib` at the repository root gives build/c/libsoftmax_c.a and
 * build/c/libsoftmax_c.so (link with -lm -lpthread); the installed Python
 * package ships this header in softmax_c.get_include().
 *
 * Conventions
 *   - Every row is reduced independently; a row has `n` elements.
 *   - Sizes and counts are int64_t ELEMENTS (or rows); negative ones are
 *     rejected with SMC_ERR_SIZE, as is a total rows * n above INT64_MAX.
 *   - Strides ("steps") are in BYTES, as NumPy reports them, and may be
 *     zero or negative.  Pointers need no particular alignment.
 *   - The output may be the input itself (same pointer and strides).  Any
 *     other overlap between input and output is not supported in C.
 *   - Every function returns SMC_OK (0) or a negative SMC_ERR_* code; they
 *     never abort, print or allocate per element.  Every argument is
 *     checked before anything is written: on an error code the output is
 *     untouched (when several arguments are wrong, any of their codes may
 *     come back).  A pointer may be NULL only when nothing is read or
 *     written through it (rows == 0, or n == 0 for the input).
 *   - Functions are thread-safe: several threads may call them at once.
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

/* Error codes (int return value of every function but the queries). */
#define SMC_OK            0
#define SMC_ERR_NULL     -1  /* NULL pointer where data must be read or written */
#define SMC_ERR_SIZE     -2  /* negative length or row count, too many dims, overflow */
#define SMC_ERR_VALUE    -3  /* bad parameter: temperature not finite and > 0,
                                threads < 0, unknown ISA name, ... */
#define SMC_ERR_LABEL    -4  /* class index out of range */
#define SMC_ERR_NOMEM    -5  /* could not allocate scratch memory */

/* Largest number of outer (non-reduced) dimensions of the nd entry points. */
#define SMC_MAX_DIMS 64

/* ---- One contiguous row --------------------------------------------------
 * x: n contiguous input values; y: n contiguous outputs (may be x).
 * softmax:      y[i] = exp(x[i] - max) / sum_j exp(x[j] - max)
 * log_softmax:  y[i] = x[i] - max - log(sum_j exp(x[j] - max))
 * Runs on the calling thread only.  Returns SMC_OK, SMC_ERR_SIZE (n < 0)
 * or SMC_ERR_NULL (x or y NULL while n > 0).                              */
int smc_softmax_row_f32(int64_t n, const float *x, float *y);
int smc_softmax_row_f64(int64_t n, const double *x, double *y);
int smc_log_softmax_row_f32(int64_t n, const float *x, float *y);
int smc_log_softmax_row_f64(int64_t n, const double *x, double *y);
/* Writes log(sum(exp(x))) of the n contiguous values x to *result (-inf
 * when n == 0).  SMC_ERR_SIZE if n < 0; SMC_ERR_NULL if result is NULL, or
 * x is NULL while n > 0. */
int smc_logsumexp_row_f32(int64_t n, const float *x, float *result);
int smc_logsumexp_row_f64(int64_t n, const double *x, double *result);

/* ---- A batch of rows --------------------------------------------------------
 * rows        number of rows (>= 0)
 * n           elements per row (>= 0)
 * x           input; element i of row r is at
 *                 (char *)x + r * x_row_step + i * x_step
 * x_row_step, x_step   byte strides between rows / between elements
 * y, y_row_step, y_step  output, laid out the same way (y == x with the
 *                        same steps computes in place)
 * temperature softmax of x / temperature (1.0: plain op): finite, > 0, and
 *             1/temperature finite and non-zero in the row's dtype
 * threads     0 = automatic, k > 0 = at most k threads, < 0 rejected
 * Returns SMC_OK; SMC_ERR_SIZE (rows < 0, n < 0, rows * n overflows);
 * SMC_ERR_NULL (x or y NULL while rows > 0 and n > 0); SMC_ERR_VALUE
 * (bad temperature or threads); SMC_ERR_NOMEM (scratch for splitting a few
 * very long rows over threads could not be allocated).                     */
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
/* logsumexp of each row: row r's result goes to (char *)y + r * y_row_step
 * (-inf for empty rows).  Same checks as above, except that y must be
 * non-NULL whenever rows > 0 (even if n == 0) and there is no temperature. */
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
/* Same arguments and return codes as the batch functions, with the rows
 * described by g and the operands by x and y (y may be x).  Also
 * SMC_ERR_SIZE for g->ndim outside 0..SMC_MAX_DIMS or a negative extent,
 * and SMC_ERR_NULL when g, x or y itself is NULL.
 * For logsumexp, y.step is ignored: one value per row. */
int smc_logsumexp_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *y,
                         int threads);
int smc_logsumexp_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *y,
                         int threads);
/* Weighted: log|sum(b * exp(x))|, with the sign of the sum in `sign` as
 * +1, -1 or 0.  `sign` may be NULL (or have NULL data): then a negative
 * sum gives NaN.  Terms with b == 0 are left out entirely.  b has the row
 * layout of x (zero strides broadcast).  Scalar code (libm exp), for
 * SciPy's logsumexp(x, b=...) semantics rather than speed.  Returns as the
 * nd functions above (b is checked like x).                               */
int smc_logsumexp_weighted_nd_f32(const smc_grid *g, const smc_array *x,
                                  const smc_array *b, const smc_array *y,
                                  const smc_array *sign, int threads);
int smc_logsumexp_weighted_nd_f64(const smc_grid *g, const smc_array *x,
                                  const smc_array *b, const smc_array *y,
                                  const smc_array *sign, int threads);

/* ---- Cross-entropy (fused loss and gradient) ------------------------------------
 * Softmax cross-entropy of every row of `logits` (the row is the class
 * axis, g->n classes), with the semantics of PyTorch's cross_entropy.
 *   labels     int64 class index per row (labels->step is ignored), or NULL
 *   probs      class probabilities in the layout of logits, or NULL
 *              (exactly one of labels / probs)
 *   weight     g->n per-class weights in the logits' dtype, or NULL
 *   ignore_index  rows whose label equals it give loss 0 and gradient 0
 *   label_smoothing  in [0, 1]
 *   reduction  SMC_REDUCE_*; MEAN divides by the summed weights w[label]
 *              of the rows not ignored (labels) or by the row count (probs)
 *   grad       receives d(total)/d(logits) in the layout of logits; may be
 *              logits itself (same data and strides); NULL or NULL data:
 *              no gradient
 *   loss       receives the per-row losses (weighted, ignored rows 0) in
 *              the logits' dtype (loss->step is ignored); NULL or NULL data:
 *              not written
 *   total      receives the reduced loss (NONE: the sum), computed in
 *              double in row order; may be NULL
 *   bad_row    on SMC_ERR_LABEL: the first row (row-major over g->shape)
 *              whose label is neither in [0, n) nor ignore_index; may be
 *              NULL.  Labels are checked before anything is written.
 * All rows ignored with MEAN gives total NaN and a zero gradient.
 * The result is bitwise identical for every thread count.                 */
#define SMC_REDUCE_NONE 0
#define SMC_REDUCE_MEAN 1
#define SMC_REDUCE_SUM  2

int smc_cross_entropy_nd_f32(const smc_grid *g, const smc_array *logits,
                             const smc_array *labels, const smc_array *probs,
                             const float *weight, int64_t ignore_index,
                             double label_smoothing, int reduction,
                             const smc_array *grad, const smc_array *loss,
                             double *total, int64_t *bad_row, int threads);
int smc_cross_entropy_nd_f64(const smc_grid *g, const smc_array *logits,
                             const smc_array *labels, const smc_array *probs,
                             const double *weight, int64_t ignore_index,
                             double label_smoothing, int reduction,
                             const smc_array *grad, const smc_array *loss,
                             double *total, int64_t *bad_row, int threads);

/* ---- Backward passes ---------------------------------------------------------------
 * Per row, with y the op's output and dy the gradient of a loss w.r.t. y:
 *   softmax:      out = y * (dy - sum(dy * y))
 *   log_softmax:  out = dy - exp(y) * sum(dy)
 * out may be y or dy itself (same data and strides).                        */
int smc_softmax_backward_nd_f32(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                const smc_array *out, int threads);
int smc_softmax_backward_nd_f64(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                const smc_array *out, int threads);
int smc_log_softmax_backward_nd_f32(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                    const smc_array *out, int threads);
int smc_log_softmax_backward_nd_f64(const smc_grid *g, const smc_array *y, const smc_array *dy,
                                    const smc_array *out, int threads);

/* ---- Runtime: CPU variant and threads --------------------------------------
 * The variant is chosen on first use: the best one this CPU and OS support,
 * or a lower one named by the environment variable SOFTMAX_C_ISA.        */
/* Name of the kernel variant in use: "baseline", "avx2" or "avx512"
 * (a static string; never NULL). */
const char *smc_active_isa(void);
/* 1 if this CPU and OS can run the named variant (and it was compiled in),
 * else 0 (also for NULL or an unknown name). */
int smc_isa_available(const char *name);
/* Switch the variant for the whole process (calls already running finish
 * with the variant they started with).  SMC_OK, or SMC_ERR_VALUE if name is
 * NULL, unknown or not available here. */
int smc_set_isa(const char *name);
/* Upper bound on threads used by automatic calls (threads == 0); values
 * above 256 are capped.  SMC_OK, or SMC_ERR_VALUE if n < 1. */
int smc_set_num_threads(int n);
/* The current bound (by default the CPUs this process may run on). */
int smc_get_num_threads(void);

/* y[i] = exp(x[i]) for n contiguous values with the active variant's vector
 * exp (exposed for accuracy testing; y may be x).  SMC_OK, SMC_ERR_SIZE
 * (n < 0) or SMC_ERR_NULL (x or y NULL while n > 0). */
int smc_exp_f32(int64_t n, const float *x, float *y);
int smc_exp_f64(int64_t n, const double *x, double *y);

#ifdef __cplusplus
}
#endif
#endif /* SOFTMAX_C_H */
