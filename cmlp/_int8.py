"""int8 quantization of a network's weights: shared by the int8 Model (cmlp._inference) and
the C export (cmlp.export_c), so both compute the same integers.

Weights: per output unit (per channel), symmetric: W[k, j] ~ scale[j] * Wq[k, j] with Wq in
[-127, 127] and scale[j] = max_k |W[k, j]| / 127. Activations (each layer's input row):
dynamic and per row, asymmetric u8: x[k] ~ s * (q[k] - zp) with q in [0, 255], the row's
range [min(0, min x), max(0, max x)] spread over 255 steps (zero exactly representable).
Dynamic because a row's own range costs one pass over it and needs no calibration data,
and per row so that a row's result never depends on the rows predicted with it. u8 times s8
is what VNNI's vpdpbusd multiplies.

A layer's outputs are then, exactly in integers up to the final float step,

    y[j] = (sum_k q[k] Wq[k, j] - zp * colsum[j]) * (s * scale[j]) + b[j]

with colsum[j] = sum_k Wq[k, j]. Sums stay within int32 for layers of up to MAX_INPUTS
inputs: |sum| <= 2 * MAX_INPUTS * 255 * 127 < 2**31.
"""
import numpy as np

MAX_INPUTS = 32768
QUAD = 4     # inputs vpdpbusd sums per 32-bit lane: the packed layout's innermost axis
LANES = 16   # outputs per 512-bit vector of int32: n_out is padded to a multiple of this


def check_quantizable(layer_sizes):
    """Raise ValueError if a layer is too wide for exact int32 accumulation."""
    for l, n_in in enumerate(layer_sizes[:-1]):
        if n_in > MAX_INPUTS:
            raise ValueError(
                f"layer {l} has {n_in} inputs; int8 quantization accumulates in int32 and "
                f"takes at most {MAX_INPUTS} inputs per layer: use float32")


def quantize_weights(W):
    """(Wq int8 (fan_in, fan_out), scale float32 (fan_out,)) of one layer's weights.

    The scale is rounded to float32 first and Wq computed from that float32 scale, so that
    Wq * scale is the best approximation of W the stored numbers can give."""
    W = np.asarray(W, dtype=np.float64)
    if not np.isfinite(W).all():
        raise ValueError("the weights hold NaN or infinity; they cannot be quantized")
    peak = np.abs(W).max(axis=0)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    Wq = np.clip(np.rint(W / scale.astype(np.float64)), -127, 127).astype(np.int8)
    return Wq, scale


def padded(n, multiple):
    return -(-n // multiple) * multiple


def pack(Wq):
    """Wq (fan_in, fan_out) in the kernels' layout: (k_pad / 4, h_pad, 4) int8, zero padded,
    k_pad = fan_in rounded up to 4, h_pad = fan_out rounded up to 16: each 64-byte run holds
    4 consecutive inputs of 16 consecutive outputs, as vpdpbusd reads them."""
    fan_in, fan_out = Wq.shape
    k_pad, h_pad = padded(fan_in, QUAD), padded(fan_out, LANES)
    full = np.zeros((k_pad, h_pad), dtype=np.int8)
    full[:fan_in, :fan_out] = Wq
    return np.ascontiguousarray(full.reshape(k_pad // QUAD, QUAD, h_pad).transpose(0, 2, 1))


def quantize_layers(weights, biases):
    """Per layer a dict: Wq, packed, colsum (int32, h_pad), scale and bias (float32, h_pad,
    zero padded), fan_in, fan_out, k_pad, h_pad."""
    check_quantizable([W.shape[0] for W in weights] + [weights[-1].shape[1]])
    layers = []
    for W, b in zip(weights, biases):
        Wq, scale = quantize_weights(W)
        fan_in, fan_out = Wq.shape
        h_pad = padded(fan_out, LANES)
        colsum = np.zeros(h_pad, dtype=np.int32)
        colsum[:fan_out] = Wq.astype(np.int32).sum(axis=0)
        scale_pad = np.zeros(h_pad, dtype=np.float32)
        scale_pad[:fan_out] = scale
        bias = np.zeros(h_pad, dtype=np.float32)
        bias[:fan_out] = np.asarray(b, dtype=np.float32)
        layers.append({"Wq": Wq, "packed": pack(Wq), "colsum": colsum, "scale": scale_pad,
                       "bias": bias, "fan_in": fan_in, "fan_out": fan_out,
                       "k_pad": padded(fan_in, QUAD), "h_pad": h_pad})
    return layers


def quantize_params(params, layer_sizes):
    """quantize_layers of a flat parameter array in cmlp's layout (W_0, b_0, W_1, ...)."""
    weights, biases, offset = [], [], 0
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        weights.append(params[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out
        biases.append(params[offset:offset + fan_out])
        offset += fan_out
    return quantize_layers(weights, biases)
