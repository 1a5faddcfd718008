/* int8 inference: a network whose weights are quantized per output unit to int8 and whose
 * layer inputs are quantized per row, dynamically, to u8 (the scheme is described in
 * cmlp/_int8.py, which also quantizes and packs the weights). Products accumulate exactly
 * in int32, so every instruction-set path gives the same bits; the float steps around them
 * (quantizing a row, scaling the sums back, activations, softmax) run in one common unit.
 *
 * Paths, picked at run time (cmlp_int8_select): "vnni512" (AVX-512 VNNI: vpdpbusd),
 * "avx2" (16-bit multiply-adds) and "generic" (plain C, any processor). */
#ifndef CMLP_INT8_H
#define CMLP_INT8_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_in, n_out;
    int k_pad, h_pad;         /* n_in rounded up to 4, n_out rounded up to 16 */
    const int8_t *weights;    /* (k_pad / 4) x h_pad x 4, see cmlp/_int8.py:pack */
    const int32_t *colsum;    /* h_pad: each output's sum of its int8 weights */
    const float *scale;       /* h_pad: each output's weight scale */
    const float *bias;        /* h_pad */
} cmlp_int8_layer;

typedef struct {
    int n_layers;
    int activation;           /* an Activation (cmlp/_codes.pxd): relu, tanh, logistic, identity */
    int output;               /* the output layer, as a Loss code (cmlp/_codes.pxd):
                                 0 softmax, 1 identity, 2 logistic, 3 exp */
    const cmlp_int8_layer *layers;
} cmlp_int8_net;

/* Statuses: those of cmlp_inference.h (0 ok, 1 non-finite input, 2 non-finite output,
 * -3 no memory). */

/* Rows [0, n) of X (n x n_in, row-major) on the calling thread: the outputs (probabilities,
 * or a regression's values) into out (n x n_outputs), or, if out is NULL, the labels (the
 * first largest probability) into labels. */
int cmlp_int8_predict(const cmlp_int8_net *net, const float *X, ptrdiff_t n, float *out,
                      int64_t *labels);

/* "auto", "vnni512", "avx2" or "generic"; 0, or -1 if this CPU (or build) lacks it. */
int cmlp_int8_select(const char *name);
const char *cmlp_int8_name(void);
int cmlp_int8_available(const char *name);

/* The per-instruction-set kernels (int8_<ISA>.c):
 * product:  acc (n x h_pad) = Q (n x k_pad, u8, row stride k_pad) times the packed W
 * quantize: each row of X (n x K, row stride ldx) into Q (n x k_pad, zero padded), with the
 *           row's scale and zero point (cmlp_int8_row_params); returns 1 if X holds NaN or
 *           infinity (found in the same pass: the caller need not read X twice), else 0 */
#define CMLP_INT8_DECLARE_PATH(ISA)                                                         \
    void cmlp_int8_product_##ISA(const uint8_t *Q, ptrdiff_t n, int k_pad,                  \
                                 const int8_t *W, int h_pad, int32_t *acc);                 \
    int cmlp_int8_quantize_##ISA(const float *X, ptrdiff_t n, int K, ptrdiff_t ldx,         \
                                 uint8_t *Q, int k_pad, float *scale, int32_t *zero);

#endif
