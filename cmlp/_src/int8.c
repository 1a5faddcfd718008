/* int8 inference (int8.h): the run-time choice of kernels and the forward pass around them.
 * Compiled for the baseline, so the float steps here are the same whichever kernels run.
 * Clang fuses a multiply and an add of one expression where the target has FMA (arm64):
 * the exported C (cmlp/export_c.py) computes the same steps, so neither fuses them. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portable.h"
#include "int8.h"
#include "int8_row.h"

#if CMLP_X86 && defined(_MSC_VER)
#include <intrin.h>
#endif

CMLP_INT8_DECLARE_PATH(generic)
#if CMLP_X86
CMLP_INT8_DECLARE_PATH(avx2)
CMLP_INT8_DECLARE_PATH(vnni512)
#endif

typedef struct {
    const char *name;
    void (*product)(const uint8_t *, ptrdiff_t, int, const int8_t *, int, int32_t *);
    int (*quantize)(const float *, ptrdiff_t, int, ptrdiff_t, uint8_t *, int, float *,
                    int32_t *);
} int8_path;

static const int8_path PATHS[] = {
#define PATH(ISA) {#ISA, cmlp_int8_product_##ISA, cmlp_int8_quantize_##ISA}
#if CMLP_X86
    PATH(vnni512),
    PATH(avx2),
#endif
    PATH(generic),
#undef PATH
};
#define N_PATHS ((int)(sizeof(PATHS) / sizeof(PATHS[0])))

static const int8_path *current = &PATHS[N_PATHS - 1];

#if CMLP_X86 && defined(_MSC_VER)
/* CPUID and XGETBV, as simd.c checks them: AVX2 (leaf 7 EBX bit 5) with the YMM state
 * saved; AVX-512F (EBX bit 16) and VNNI (ECX bit 11) with the ZMM and opmask state too. */
static int msvc_supports(int vnni) {
    int info[4];
    __cpuid(info, 0);
    if (info[0] < 7) return 0;
    __cpuid(info, 1);
    if (!((info[2] >> 27) & 1)) return 0; /* OSXSAVE */
    unsigned long long xcr0 = _xgetbv(0);
    __cpuidex(info, 7, 0);
    if (!vnni) return ((info[1] >> 5) & 1) && (xcr0 & 0x6) == 0x6;
    return ((info[1] >> 16) & 1) && ((info[2] >> 11) & 1) && (xcr0 & 0xe6) == 0xe6;
}
#endif

static int supported(const char *name) {
#if CMLP_X86 && defined(_MSC_VER)
    if (strcmp(name, "vnni512") == 0) return msvc_supports(1);
    if (strcmp(name, "avx2") == 0) return msvc_supports(0);
#elif CMLP_X86
    __builtin_cpu_init();
    if (strcmp(name, "vnni512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
    if (strcmp(name, "avx2") == 0) return __builtin_cpu_supports("avx2");
#endif
    return strcmp(name, "generic") == 0;
}

int cmlp_int8_available(const char *name) { return supported(name); }

int cmlp_int8_select(const char *name) {
    for (int p = 0; p < N_PATHS; p++) {
        int wanted = strcmp(name, "auto") == 0 || strcmp(name, PATHS[p].name) == 0;
        if (wanted && supported(PATHS[p].name)) {
            current = &PATHS[p];
            return 0;
        }
    }
    return -1;
}

const char *cmlp_int8_name(void) { return current->name; }

enum { BLOCK_ROWS = 64, STACK_BYTES = 16384 };

static void activate(float *y, ptrdiff_t size, int activation) {
    ptrdiff_t i;
    switch (activation) {
    case 0: for (i = 0; i < size; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f; break;
    case 1: for (i = 0; i < size; i++) y[i] = tanhf(y[i]); break;
    case 2: for (i = 0; i < size; i++) y[i] = 1.0f / (1.0f + expf(-y[i])); break;
    default: break;
    }
}

static void softmax(float *p, int n) {
    float top = p[0], sum = 0.0f;
    for (int j = 1; j < n; j++) top = p[j] > top ? p[j] : top;
    for (int j = 0; j < n; j++) {
        p[j] = expf(p[j] - top);
        sum += p[j];
    }
    for (int j = 0; j < n; j++) p[j] /= sum;
}

/* Sizes of one block's work memory, in bytes, each part a multiple of 64. */
typedef struct { size_t q, acc, hidden, probs, rows; } work_sizes;

static size_t up64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static work_sizes sizes_for(const cmlp_int8_net *net, ptrdiff_t block, int want_probs) {
    size_t k = 0, h = 0, hidden = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const cmlp_int8_layer *L = &net->layers[l];
        if ((size_t)L->k_pad > k) k = (size_t)L->k_pad;
        if ((size_t)L->h_pad > h) h = (size_t)L->h_pad;
        if (l < net->n_layers - 1 && (size_t)L->n_out > hidden) hidden = (size_t)L->n_out;
    }
    work_sizes s;
    s.q = up64((size_t)block * k);
    s.acc = up64((size_t)block * h * sizeof(int32_t));
    s.hidden = up64((size_t)block * hidden * sizeof(float));
    s.probs = want_probs
        ? up64((size_t)block * (size_t)net->layers[net->n_layers - 1].n_out * sizeof(float))
        : 0;
    s.rows = up64((size_t)block * (sizeof(float) + sizeof(int32_t)));
    return s;
}

int cmlp_int8_predict(const cmlp_int8_net *net, const float *X, ptrdiff_t n, float *out,
                      int64_t *labels) {
    if (n <= 0) return 0;
    const int n_in = net->layers[0].n_in;
    const int n_out = net->layers[net->n_layers - 1].n_out;
    const ptrdiff_t block = n < BLOCK_ROWS ? n : BLOCK_ROWS;
    const work_sizes s = sizes_for(net, block, out == NULL);
    const size_t total = s.q + s.acc + 2 * s.hidden + s.probs + s.rows;
    CMLP_ALIGN64 unsigned char stack[STACK_BYTES];
    void *heap = NULL;
    unsigned char *work = stack;
    int status = 0;
    if (total > sizeof stack) {
        heap = malloc(total + 64);
        if (heap == NULL) return -3;
        work = (unsigned char *)(((uintptr_t)heap + 63) & ~(uintptr_t)63);
    }
    uint8_t *Q = work;
    int32_t *acc = (int32_t *)(void *)(work + s.q);
    float *hidden[2] = {(float *)(void *)(work + s.q + s.acc),
                        (float *)(void *)(work + s.q + s.acc + s.hidden)};
    float *probs_work = (float *)(void *)(work + s.q + s.acc + 2 * s.hidden);
    float *row_scale = (float *)(void *)(work + s.q + s.acc + 2 * s.hidden + s.probs);
    int32_t *row_zero = (int32_t *)(void *)(row_scale + block);

    for (ptrdiff_t first = 0; first < n; first += block) {
        const ptrdiff_t rows = n - first < block ? n - first : block;
        const float *inputs = X + first * n_in;
        float *probs = out != NULL ? out + first * n_out : probs_work;
        for (int l = 0; l < net->n_layers; l++) {
            const cmlp_int8_layer *L = &net->layers[l];
            const int last = l == net->n_layers - 1;
            float *dest = last ? probs : hidden[l % 2];
            if (current->quantize(inputs, rows, L->n_in, L->n_in, Q, L->k_pad, row_scale,
                                  row_zero) && l == 0) {
                status = 1;
                break;
            }
            current->product(Q, rows, L->k_pad, L->weights, L->h_pad, acc);
            for (ptrdiff_t i = 0; i < rows; i++) {
                const int32_t *a = acc + i * L->h_pad;
                const int32_t zero = row_zero[i];
                const float x_scale = row_scale[i];
                float *y = dest + i * L->n_out;
                for (int j = 0; j < L->n_out; j++) { /* two roundings, never fused */
                    const float t = (float)(a[j] - zero * L->colsum[j]) *
                                    (x_scale * L->scale[j]);
                    y[j] = t + L->bias[j];
                }
            }
            if (!last) activate(dest, rows * L->n_out, net->activation);
            inputs = dest;
        }
        if (status == 1) break;
        for (ptrdiff_t i = 0; i < rows; i++) {
            float *p = probs + i * n_out;
            switch (net->output) {
            case 0: softmax(p, n_out); break;
            case 2: activate(p, n_out, 2); break; /* logistic, as the hidden layers' */
            case 3: for (int j = 0; j < n_out; j++) p[j] = expf(p[j]); break;
            default: break;
            }
            for (int j = 0; j < n_out; j++)
                if (cmlp_int8_nonfinite(p[j])) status = 2; /* the other rows go on */
            if (labels != NULL) {
                int best = 0;
                for (int j = 1; j < n_out; j++)
                    if (p[j] > p[best]) best = j;
                labels[first + i] = best;
            }
        }
    }
    free(heap);
    return status;
}
