# Cython declarations of the C API in src/include/softmax_c.h.
# (The header is shipped with the package: softmax_c.get_include().)
from libc.stdint cimport int32_t, int64_t

cdef extern from "softmax_c.h" nogil:
    const char *SOFTMAX_C_VERSION
    enum:
        SMC_OK
        SMC_ERR_NULL
        SMC_ERR_SIZE
        SMC_ERR_VALUE
        SMC_ERR_LABEL
        SMC_ERR_NOMEM
        SMC_MAX_DIMS

    ctypedef struct smc_grid:
        int64_t n
        int32_t ndim
        int64_t shape[64]

    ctypedef struct smc_array:
        void *data
        int64_t step
        int64_t strides[64]

    int smc_softmax_row_f32(int64_t n, const float *x, float *y)
    int smc_softmax_row_f64(int64_t n, const double *x, double *y)
    int smc_log_softmax_row_f32(int64_t n, const float *x, float *y)
    int smc_log_softmax_row_f64(int64_t n, const double *x, double *y)
    int smc_logsumexp_row_f32(int64_t n, const float *x, float *result)
    int smc_logsumexp_row_f64(int64_t n, const double *x, double *result)

    int smc_softmax_f32(int64_t rows, int64_t n, const float *x, int64_t x_row_step,
                        int64_t x_step, float *y, int64_t y_row_step, int64_t y_step,
                        double temperature, int threads)
    int smc_softmax_f64(int64_t rows, int64_t n, const double *x, int64_t x_row_step,
                        int64_t x_step, double *y, int64_t y_row_step, int64_t y_step,
                        double temperature, int threads)
    int smc_log_softmax_f32(int64_t rows, int64_t n, const float *x, int64_t x_row_step,
                            int64_t x_step, float *y, int64_t y_row_step, int64_t y_step,
                            double temperature, int threads)
    int smc_log_softmax_f64(int64_t rows, int64_t n, const double *x, int64_t x_row_step,
                            int64_t x_step, double *y, int64_t y_row_step, int64_t y_step,
                            double temperature, int threads)
    int smc_logsumexp_f32(int64_t rows, int64_t n, const float *x, int64_t x_row_step,
                          int64_t x_step, float *y, int64_t y_row_step, int threads)
    int smc_logsumexp_f64(int64_t rows, int64_t n, const double *x, int64_t x_row_step,
                          int64_t x_step, double *y, int64_t y_row_step, int threads)

    int smc_softmax_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *y,
                           double temperature, int threads)
    int smc_softmax_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *y,
                           double temperature, int threads)
    int smc_log_softmax_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *y,
                               double temperature, int threads)
    int smc_log_softmax_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *y,
                               double temperature, int threads)
    int smc_logsumexp_nd_f32(const smc_grid *g, const smc_array *x, const smc_array *y,
                             int threads)
    int smc_logsumexp_nd_f64(const smc_grid *g, const smc_array *x, const smc_array *y,
                             int threads)
    int smc_logsumexp_weighted_nd_f32(const smc_grid *g, const smc_array *x,
                                      const smc_array *b, const smc_array *y,
                                      const smc_array *sign, int threads)
    int smc_logsumexp_weighted_nd_f64(const smc_grid *g, const smc_array *x,
                                      const smc_array *b, const smc_array *y,
                                      const smc_array *sign, int threads)

    const char *smc_active_isa()
    int smc_isa_available(const char *name)
    int smc_set_isa(const char *name)
    int smc_set_num_threads(int n)
    int smc_get_num_threads()
    int smc_exp_f32(int64_t n, const float *x, float *y)
    int smc_exp_f64(int64_t n, const double *x, double *y)

    # cross-entropy and backward passes
    enum:
        SMC_REDUCE_NONE
        SMC_REDUCE_MEAN
        SMC_REDUCE_SUM

    int smc_cross_entropy_nd_f32(const smc_grid *g, const smc_array *logits,
                                 const smc_array *labels, const smc_array *probs,
                                 const float *weight, int64_t ignore_index,
                                 double label_smoothing, int reduction,
                                 const smc_array *grad, const smc_array *loss,
                                 double *total, int64_t *bad_row, int threads)
    int smc_cross_entropy_nd_f64(const smc_grid *g, const smc_array *logits,
                                 const smc_array *labels, const smc_array *probs,
                                 const double *weight, int64_t ignore_index,
                                 double label_smoothing, int reduction,
                                 const smc_array *grad, const smc_array *loss,
                                 double *total, int64_t *bad_row, int threads)
    int smc_softmax_backward_nd_f32(const smc_grid *g, const smc_array *y,
                                    const smc_array *dy, const smc_array *out, int threads)
    int smc_softmax_backward_nd_f64(const smc_grid *g, const smc_array *y,
                                    const smc_array *dy, const smc_array *out, int threads)
    int smc_log_softmax_backward_nd_f32(const smc_grid *g, const smc_array *y,
                                        const smc_array *dy, const smc_array *out, int threads)
    int smc_log_softmax_backward_nd_f64(const smc_grid *g, const smc_array *y,
                                        const smc_array *dy, const smc_array *out, int threads)
