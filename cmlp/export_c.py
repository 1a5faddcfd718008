"""Export a trained network as one dependency-free C99 file.

The file holds the weights as ``static const`` arrays and a pair of functions,
``<name>_predict_proba(x, out)`` and ``<name>_predict(x)`` (a regressor's:
``<name>_predict_values(x, out)``), with the input scaling of a ``Pipeline(StandardScaler,
estimator)`` applied inside. No allocation (work memory is a few arrays on the stack), no
dependency beyond ``<math.h>``, no global state: calls may run in any number of threads.

Variants:

- ``float32`` / ``float64``: the network's arithmetic in that type (inputs and outputs of
  that type). The loops run over the outputs innermost, in order, so compilers vectorise them
  without reordering any sum.
- ``int8``: cmlp's int8 scheme (cmlp/_int8.py: weights per output unit, inputs per row,
  exact integer sums), float inputs and float outputs. Plain C by default; with
  ``__AVX512VNNI__`` or ``__AVX2__`` defined by the compiler (``-march=native``), the products
  use those instructions, with the same integer results. ``CMLP_NO_SIMD`` forces plain C.

The header also defines ``CMLP_PREDICT_PROBA(x, out)`` (and ``CMLP_PREDICT(x)``,
``CMLP_REAL``, ``CMLP_N_FEATURES``, ``CMLP_N_OUTPUTS``; for a regressor
``CMLP_PREDICT_VALUES(x, out)``) for the first model a translation unit includes, so one
program compiles against any exported model.
"""
import re

import numpy as np

from cmlp import _int8
from cmlp._files import write_atomically
from cmlp.reference import ACTIVATIONS

VARIANTS = ("float32", "float64", "int8")
# The output layer of each of Network's losses (cmlp.reference: its output function).
OUTPUTS = {"cross_entropy": "softmax", "squared_error": "identity",
           "binary_cross_entropy": "logistic", "poisson": "exp"}

__all__ = ["to_c", "c_source", "VARIANTS"]


class _Model:
    """What the C file needs, whatever object it came from."""

    def __init__(self, weights, biases, activation, output, dtype, description,
                 mean=None, scale=None, classes=None):
        if activation not in ACTIVATIONS:
            raise ValueError(f"cannot export activation {activation!r}; the C export "
                             f"supports {ACTIVATIONS}")
        if output not in OUTPUTS.values():
            raise ValueError(f"cannot export an output layer {output!r}; the C export "
                             f"supports {sorted(OUTPUTS.values())}")
        self.weights = [np.asarray(W) for W in weights]
        self.biases = [np.asarray(b) for b in biases]
        self.activation = activation
        self.output = output
        self.dtype = np.dtype(dtype)
        self.description = description
        self.mean, self.scale, self.classes = mean, scale, classes
        for W in self.weights:
            if not np.isfinite(W).all():
                raise ValueError("the network's weights hold NaN or infinity; nothing to export")

    @property
    def classifier(self):
        """Whether the functions are predict_proba (and, for softmax, predict)."""
        return self.output in ("softmax", "logistic")

    @property
    def n_features(self):
        return self.weights[0].shape[0]

    @property
    def n_outputs(self):
        return self.weights[-1].shape[1]


def _from_network(network):
    loss = getattr(network, "loss", "cross_entropy")
    if loss not in OUTPUTS:
        raise ValueError(f"cannot export a {loss!r} network; the C export takes the losses "
                         f"{sorted(OUTPUTS)}")
    return _Model(network.weights, network.biases, network.activation, OUTPUTS[loss],
                  network.dtype, repr(network))


def _from_estimator(estimator):
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    output = getattr(estimator, "out_activation_", None)
    classes = getattr(estimator, "classes_", None)
    n_outputs = estimator.coefs_[-1].shape[1]
    if classes is not None and (output != "softmax" or len(classes) != n_outputs):
        classes = None  # the names of outputs only where each output is a class
    if classes is not None:
        classes = [str(c) for c in classes]
    return _Model(estimator.coefs_, estimator.intercepts_, estimator.activation, output,
                  estimator.coefs_[0].dtype, f"{type(estimator).__name__} "
                  f"{[estimator.coefs_[0].shape[0]] + [b.size for b in estimator.intercepts_]}",
                  classes=classes)


def _from_pipeline(pipeline):
    steps = [step for _, step in pipeline.steps if step not in (None, "passthrough")]
    *scalers, final = steps
    if len(scalers) > 1 or (scalers and type(scalers[0]).__name__ != "StandardScaler"):
        names = [type(s).__name__ for s in scalers]
        raise ValueError(f"cannot export a pipeline with the steps {names} before the network; "
                         "the C export takes at most one StandardScaler")
    model = _describe(final)
    if scalers:
        scaler = scalers[0]
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(scaler)
        n = model.n_features
        mean = getattr(scaler, "mean_", None) if scaler.with_mean else None
        scale = getattr(scaler, "scale_", None) if scaler.with_std else None
        model.mean = np.zeros(n) if mean is None else np.asarray(mean, dtype=np.float64)
        model.scale = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
        if model.mean.shape != (n,) or model.scale.shape != (n,):
            raise ValueError(f"the StandardScaler was fitted on {model.mean.size} features; "
                             f"the network takes {n}")
        model.description = f"StandardScaler, then {model.description}"
    return model


def _describe(model):
    from cmlp.network import Network

    if isinstance(model, Network):
        return _from_network(model)
    module = type(model).__module__
    if module.startswith("sklearn.pipeline"):
        return _from_pipeline(model)
    if module == "cmlp.sklearn" or module.startswith("cmlp.sklearn."):
        return _from_estimator(model)
    raise TypeError(f"cannot export a {type(model).__name__}; expected a cmlp.Network, a "
                    "cmlp.sklearn MLPClassifier or MLPRegressor, or a Pipeline of an optional "
                    "StandardScaler and one of those")


# ---------------------------------------------------------------------------------------
# writing C


def _check_name(name):
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ValueError(f"name must be a C identifier (letters, digits, _; not starting with "
                         f"a digit; at most 63 characters), got {name!r}")
    return name


def _numbers(values, kind):
    """C initializer text: float32 values as shortest round-trip decimals with an f suffix,
    float64 as repr, integers as they are; a dozen a line."""
    flat = np.asarray(values).ravel()
    if kind == "float32":
        items = [np.format_float_scientific(v, unique=True, trim="-") + "f"
                 for v in flat.astype(np.float32)]
    elif kind == "float64":
        items = [repr(float(v)) for v in flat.astype(np.float64)]
    else:
        items = [str(int(v)) for v in flat]
    items = [i.replace("inf", "HUGE_VAL") for i in items]  # never: weights are finite
    lines = (", ".join(items[i:i + 12]) for i in range(0, len(items), 12))
    return "    " + ",\n    ".join(lines)


def _array(ctype, name, values, kind):
    size = np.asarray(values).size
    return f"static const {ctype} {name}[{size}] = {{\n{_numbers(values, kind)}\n}};\n"


def _c_string(text):
    escaped = "".join(c if c.isprintable() and c not in '"\\?' and ord(c) < 128
                      else f"\\{ord(c):03o}" if ord(c) < 256 else "?" for c in text)
    return f'"{escaped}"'


_ACTIVATION_C = {
    "relu": "{y} = {y} > 0 ? {y} : 0;",
    "tanh": "{y} = tanh{f}({y});",
    "logistic": "{y} = 1 / (1 + exp{f}(-{y}));",
    "identity": "",
}


def c_source(model, *, variant=None, name="cmlp_model"):
    """The C99 source text that to_c writes.

    Parameters
    ----------
    model : cmlp.Network, cmlp.sklearn.MLPClassifier or MLPRegressor, or Pipeline
        As for to_c.
    variant : "float32", "float64" or "int8", optional
        As for to_c; default: the network's dtype.
    name : str, default="cmlp_model"
        The prefix of every name in the source (a C identifier).

    Returns
    -------
    str
        The whole file.

    Raises
    ------
    TypeError
        If model is not one of the types above.
    ValueError
        As for to_c.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.export_c import c_source
    >>> "tiny_predict_proba" in c_source(Network([4, 8, 3], seed=0), name="tiny")
    True
    """
    spec = _describe(model)
    name = _check_name(name)
    variant = spec.dtype.name if variant is None else variant
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "int8":
        _int8.check_quantizable([spec.n_features] + [b.size for b in spec.biases])
    from cmlp import __version__

    upper = name.upper()
    real = "double" if variant == "float64" else "float"
    f = "" if variant == "float64" else "f"
    kind = "float64" if variant == "float64" else "float32"
    widths = [W.shape[1] for W in spec.weights]
    hidden_max = max(widths[:-1], default=1)
    head = [
        f"/* {name}: a network exported by cmlp {__version__} (cmlp export-c) as one C99 file.",
        f" * Model: {spec.description}; activation {spec.activation}; "
        f"{spec.output} output; variant {variant}.",
        " * No allocation, no dependency beyond <math.h> (link with -lm), no global state:",
        " * calls may run in any number of threads. Include it in one translation unit.",
        " *",
    ]
    if spec.output == "softmax":
        head += [f" *     {real} x[{upper}_N_FEATURES], p[{upper}_N_OUTPUTS];",
                 f" *     {name}_predict_proba(x, p);      -- class probabilities",
                 f" *     int label = {name}_predict(x);   -- the first largest one"]
    elif spec.output == "logistic":
        head += [f" *     {real} x[{upper}_N_FEATURES], p[{upper}_N_OUTPUTS];",
                 f" *     {name}_predict_proba(x, p);      -- each output's probability"]
    else:
        head += [f" *     {real} x[{upper}_N_FEATURES], y[{upper}_N_OUTPUTS];",
                 f" *     {name}_predict_values(x, y);"]
    if spec.mean is not None:
        head += [" * x is raw input: the StandardScaler's (x - mean) / scale is applied inside."]
    if variant == "int8":
        head += [" * int8: weights quantized per output, inputs per row (cmlp/_int8.py);",
                 " * AVX-512 VNNI or AVX2 products where the compiler targets them (same",
                 " * integers); define CMLP_NO_SIMD for plain C."]
    head += [" */"]
    out = ["\n".join(head), "",
           f"#ifndef {upper}_H_INCLUDED", f"#define {upper}_H_INCLUDED", "",
           "#include <math.h>", ""]
    if variant == "int8":
        out += ["#if !defined(CMLP_NO_SIMD) && defined(__AVX512F__) && defined(__AVX512VNNI__)",
                f"#define {upper}_VNNI 1",
                "#include <immintrin.h>",
                "#elif !defined(CMLP_NO_SIMD) && defined(__AVX2__)",
                f"#define {upper}_AVX2 1",
                "#include <immintrin.h>",
                "#endif", ""]
    out += [f"#define {upper}_N_FEATURES {spec.n_features}",
            f"#define {upper}_N_OUTPUTS {spec.n_outputs}",
            f"#define {upper}_VARIANT \"{variant}\"",
            f"#define {upper}_REAL {real}  /* the type of x and of the outputs */"]
    if spec.output == "softmax":
        out += [f"#define {upper}_N_CLASSES {spec.n_outputs}"]
    out += [""]
    if spec.classes is not None:
        out += [f"/* The label of each output (the estimator's classes_). */",
                f"static const char *const {name}_class_names[{len(spec.classes)}] = {{",
                "    " + ", ".join(_c_string(c) for c in spec.classes), "};", ""]
    out += ["#ifndef CMLP_PREDICT_PROBA_DEFINED /* the first model included names the aliases */",
            "#define CMLP_PREDICT_PROBA_DEFINED 1",
            f"#define CMLP_REAL {real}",
            f"#define CMLP_N_FEATURES {upper}_N_FEATURES",
            f"#define CMLP_N_OUTPUTS {upper}_N_OUTPUTS"]
    if spec.classifier:
        out += [f"#define CMLP_PREDICT_PROBA(x, out) {name}_predict_proba((x), (out))"]
    if spec.output == "softmax":
        out += [f"#define CMLP_PREDICT(x) {name}_predict(x)"]
    if not spec.classifier:
        out += [f"#define CMLP_PREDICT_VALUES(x, out) {name}_predict_values((x), (out))"]
    out += ["#endif", ""]

    if spec.mean is not None:
        out += [_array("double", f"{name}_mean", spec.mean, "float64"),
                _array("double", f"{name}_scale", spec.scale, "float64")]
    if variant == "int8":
        layers = _int8.quantize_layers(spec.weights, spec.biases)
        for l, layer in enumerate(layers):
            out += [f"/* layer {l}: {layer['fan_in']} -> {layer['fan_out']}; int8 weights in "
                    f"groups of 4 inputs x {layer['h_pad']} outputs x 4 */",
                    _array("signed char", f"{name}_W{l}", layer["packed"], "int"),
                    _array("long", f"{name}_colsum{l}", layer["colsum"], "int"),
                    _array("float", f"{name}_scale{l}", layer["scale"], "float32"),
                    _array("float", f"{name}_b{l}", layer["bias"], "float32")]
        out += [_int8_code(name, upper, spec, layers)]
    else:
        for l, (W, b) in enumerate(zip(spec.weights, spec.biases)):
            out += [f"/* layer {l}: {W.shape[0]} -> {W.shape[1]}, W row-major (inputs x "
                    "outputs) */",
                    _array(real, f"{name}_W{l}", W, kind),
                    _array(real, f"{name}_b{l}", b, kind)]
        out += [_float_code(name, upper, spec, real, f, hidden_max)]
    out += [f"#endif /* {upper}_H_INCLUDED */", ""]
    return "\n".join(out)


def _scaling(name, spec, real):
    """Lines that make xs, the scaled input, if the model has a scaler."""
    if spec.mean is None:
        return [f"    const {real} *xs = x;"]
    upper = name.upper()
    return [f"    {real} xs[{upper}_N_FEATURES];",
            f"    for (k = 0; k < {upper}_N_FEATURES; k++)",
            f"        xs[k] = ({real})(((double)x[k] - {name}_mean[k]) / {name}_scale[k]);"]


def _output_and_predict(name, upper, spec, real, f, forward_call):
    """The public functions around the static forward pass."""
    if spec.output == "softmax":
        return [
            f"/* The class probabilities of x ({upper}_N_FEATURES values) into out "
            f"({upper}_N_OUTPUTS). */",
            f"static void {name}_predict_proba(const {real} *x, {real} *out)",
            "{",
            f"    {real} top, sum = 0;",
            "    int j;",
            f"    {forward_call}",
            "    top = out[0];",
            f"    for (j = 1; j < {upper}_N_OUTPUTS; j++) top = out[j] > top ? out[j] : top;",
            f"    for (j = 0; j < {upper}_N_OUTPUTS; j++) {{",
            f"        out[j] = exp{f}(out[j] - top);",
            "        sum += out[j];",
            "    }",
            f"    for (j = 0; j < {upper}_N_OUTPUTS; j++) out[j] /= sum;",
            "}",
            "",
            "/* The predicted class of x: the index of its first largest probability. */",
            f"static int {name}_predict(const {real} *x)",
            "{",
            f"    {real} p[{upper}_N_OUTPUTS];",
            "    int j, best = 0;",
            f"    {name}_predict_proba(x, p);",
            f"    for (j = 1; j < {upper}_N_OUTPUTS; j++)",
            "        if (p[j] > p[best]) best = j;",
            "    return best;",
            "}",
            "",
            _uses(name, [f"&{name}_predict_proba", f"&{name}_predict"]
                  + ([f"{name}_class_names"] if spec.classes is not None else [])),
        ]
    function, what, step = {
        "logistic": ("predict_proba", "each output's probability (threshold it at 0.5 for "
                     "a label)", f"out[j] = 1 / (1 + exp{f}(-out[j]));"),
        "exp": ("predict_values", "predicted values (the exponential of the last layer: "
                "a log link)", f"out[j] = exp{f}(out[j]);"),
        "identity": ("predict_values", "predicted values", None),
    }[spec.output]
    lines = [f"/* The {what} of x ({upper}_N_FEATURES values) into out ({upper}_N_OUTPUTS). */",
             f"static void {name}_{function}(const {real} *x, {real} *out)",
             "{"]
    if step is not None:
        lines += ["    int j;", f"    {forward_call}",
                  f"    for (j = 0; j < {upper}_N_OUTPUTS; j++) {step}"]
    else:
        lines += [f"    {forward_call}"]
    return lines + ["}", "", _uses(name, [f"&{name}_{function}"])]


def _uses(name, things):
    """A typedef that names things: a program that calls only one of the functions (or
    none) compiles without unused-function warnings."""
    return (f"typedef char {name}_names_in_use[{' + '.join(f'sizeof({t})' for t in things)}];")


def _activation_lines(spec, f, y, indent="        "):
    code = _ACTIVATION_C[spec.activation].format(y=y, f=f)
    return [indent + code] if code else []


def _float_code(name, upper, spec, real, f, hidden_max):
    n_layers = len(spec.weights)
    lines = [
        f"/* y = x W + b for one row: the loop over outputs innermost, so it vectorises "
        "without reordering a sum; zero inputs (ReLU's) are skipped. */",
        f"static void {name}_dense(const {real} *x, int n_in, const {real} *W, "
        f"const {real} *b, int n_out, {real} *y)",
        "{",
        "    int k, j;",
        "    for (j = 0; j < n_out; j++) y[j] = b[j];",
        "    for (k = 0; k < n_in; k++) {",
        f"        const {real} xk = x[k];",
        f"        const {real} *w = W + (long)k * n_out;",
        "        if (xk == 0) continue;",
        "        for (j = 0; j < n_out; j++) y[j] += xk * w[j];",
        "    }",
        "}",
        "",
        f"/* The last layer's outputs (before the softmax) of x into out. */",
        f"static void {name}_forward(const {real} *x, {real} *out)",
        "{",
        f"    {real} h[2][{hidden_max}];",
        "    int k;",
    ]
    lines += _scaling(name, spec, real)
    current = "xs"
    for l, W in enumerate(spec.weights):
        n_in, n_out = W.shape
        dest = "out" if l == n_layers - 1 else f"h[{l % 2}]"
        lines.append(f"    {name}_dense({current}, {n_in}, {name}_W{l}, {name}_b{l}, "
                     f"{n_out}, {dest});")
        if l < n_layers - 1 and spec.activation != "identity":
            lines.append(f"    for (k = 0; k < {n_out}; k++) {{")
            lines += _activation_lines(spec, f, f"{dest}[k]")
            lines.append("    }")
        current = dest
    lines += ["    (void)h;", "    (void)k;", "}", ""]
    lines += _output_and_predict(name, upper, spec, real, f, f"{name}_forward(x, out);")
    lines.append("")
    return "\n".join(lines)


def _int8_code(name, upper, spec, layers):
    n_layers = len(layers)
    k_max = max(layer["k_pad"] for layer in layers)
    h_max = max(layer["h_pad"] for layer in layers)
    hidden_max = max([layer["fan_out"] for layer in layers[:-1]], default=1)
    lines = [
        "/* A row of n floats as u8: q = clamp(round(x / s) + zero, 0, 255) over the row's range",
        " * [min(0, min x), max(0, max x)]; q[n .. n_pad) = 0. */",
        f"static void {name}_quantize(const float *x, int n, int n_pad, unsigned char *q, "
        "float *s, long *zero)",
        "{",
        "    float lo = 0, hi = 0, inverse = 0;",
        "    long z = 0, v;",
        "    int k;",
        "    for (k = 0; k < n; k++) {",
        "        lo = x[k] < lo ? x[k] : lo;",
        "        hi = x[k] > hi ? x[k] : hi;",
        "    }",
        "    *s = 1;",
        "    if (hi - lo > 0 && hi - lo < 3.0e38f) {",
        "        *s = (hi - lo) / 255.0f;",
        "        inverse = 255.0f / (hi - lo);",
        "        z = lrintf(-lo * inverse);",
        "        z = z < 0 ? 0 : z > 255 ? 255 : z;",
        "    } else if (hi - lo > 0) {",
        "        *s = (hi - lo) / 255.0f;",
        "    }",
        "    for (k = 0; k < n; k++) {",
        "        v = lrintf(x[k] * inverse) + z;",
        "        q[k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);",
        "    }",
        "    for (; k < n_pad; k++) q[k] = 0;",
        "    *zero = z;",
        "}",
        "",
        "/* acc[j] = sum_k q[k] W[k][j] for one row, W packed in groups of 4 inputs x h_pad "
        "outputs x 4. */",
        f"static void {name}_product(const unsigned char *q, int k_pad, const signed char *W, "
        "int h_pad, long *acc)",
        "{",
        "    int g, j;",
        f"#if defined({upper}_VNNI)",
        "    for (j = 0; j < h_pad; j += 16) {",
        "        __m512i c = _mm512_setzero_si512();",
        "        for (g = 0; g < k_pad / 4; g++) {",
        "            int bits = q[4 * g] | (q[4 * g + 1] << 8) | (q[4 * g + 2] << 16) |",
        "                       ((int)((unsigned)q[4 * g + 3] << 24));",
        "            if (bits == 0) continue;",
        "            c = _mm512_dpbusd_epi32(c, _mm512_set1_epi32(bits), _mm512_loadu_si512(",
        "                (const void *)(W + ((long)g * h_pad + j) * 4)));",
        "        }",
        "        {",
        "            int lanes[16], t;",
        "            _mm512_storeu_si512((void *)lanes, c);",
        "            for (t = 0; t < 16; t++) acc[j + t] = lanes[t];",
        "        }",
        "    }",
        f"#elif defined({upper}_AVX2)",
        "    for (j = 0; j < h_pad; j += 8) {",
        "        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();",
        "        for (g = 0; g < k_pad / 4; g++) {",
        "            int bits = q[4 * g] | (q[4 * g + 1] << 8) | (q[4 * g + 2] << 16) |",
        "                       ((int)((unsigned)q[4 * g + 3] << 24));",
        "            const __m256i w8 = _mm256_loadu_si256(",
        "                (const __m256i *)(const void *)(W + ((long)g * h_pad + j) * 4));",
        "            const __m256i x = _mm256_cvtepu8_epi16(_mm_set1_epi32(bits));",
        "            if (bits == 0) continue;",
        "            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(",
        "                _mm256_castsi256_si128(w8))));",
        "            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(",
        "                _mm256_extracti128_si256(w8, 1))));",
        "        }",
        "        {",
        "            int lanes[8], t;",
        "            _mm256_storeu_si256((__m256i *)(void *)lanes, _mm256_permute4x64_epi64(",
        "                _mm256_hadd_epi32(lo, hi), 0xD8));",
        "            for (t = 0; t < 8; t++) acc[j + t] = lanes[t];",
        "        }",
        "    }",
        "#else",
        "    for (j = 0; j < h_pad; j++) acc[j] = 0;",
        "    for (g = 0; g < k_pad / 4; g++) {",
        "        const long x0 = q[4 * g], x1 = q[4 * g + 1], x2 = q[4 * g + 2], x3 = q[4 * g + 3];",
        "        const signed char *w = W + (long)g * h_pad * 4;",
        "        if ((x0 | x1 | x2 | x3) == 0) continue;",
        "        for (j = 0; j < h_pad; j++)",
        "            acc[j] += x0 * w[4 * j] + x1 * w[4 * j + 1] + x2 * w[4 * j + 2] + "
        "x3 * w[4 * j + 3];",
        "    }",
        "#endif",
        "}",
        "",
        "/* One layer: quantize x, multiply, scale back to floats into y. */",
        f"static void {name}_layer(const float *x, int n_in, int k_pad, const signed char *W,",
        "                          const long *colsum, const float *scale, const float *b,",
        "                          int n_out, int h_pad, float *y)",
        "{",
        "#if defined(__clang__) /* GCC fuses nothing in ISO C mode; clang, within statements */",
        "#pragma STDC FP_CONTRACT OFF",
        "#endif",
        f"    unsigned char q[{k_max}];",
        f"    long acc[{h_max}], zero;",
        "    float s, t;",
        "    int j;",
        f"    {name}_quantize(x, n_in, k_pad, q, &s, &zero);",
        f"    {name}_product(q, k_pad, W, h_pad, acc);",
        "    for (j = 0; j < n_out; j++) { /* two roundings, as cmlp computes them */",
        "        t = (float)(acc[j] - zero * colsum[j]) * (s * scale[j]);",
        "        y[j] = t + b[j];",
        "    }",
        "}",
        "",
        f"static void {name}_forward(const float *x, float *out)",
        "{",
        f"    float h[2][{hidden_max}];",
        "    int k;",
    ]
    lines += _scaling(name, spec, "float")
    current = "xs"
    for l, layer in enumerate(layers):
        dest = "out" if l == n_layers - 1 else f"h[{l % 2}]"
        lines.append(f"    {name}_layer({current}, {layer['fan_in']}, {layer['k_pad']}, "
                     f"{name}_W{l}, {name}_colsum{l}, {name}_scale{l}, {name}_b{l}, "
                     f"{layer['fan_out']}, {layer['h_pad']}, {dest});")
        if l < n_layers - 1 and spec.activation != "identity":
            lines.append(f"    for (k = 0; k < {layer['fan_out']}; k++) {{")
            lines += _activation_lines(spec, "f", f"{dest}[k]")
            lines.append("    }")
        current = dest
    lines += ["    (void)h;", "    (void)k;", "}", ""]
    lines += _output_and_predict(name, upper, spec, "float", "f", f"{name}_forward(x, out);")
    lines.append("")
    return "\n".join(lines)


def to_c(model, path, *, variant=None, name="cmlp_model"):
    """Write model as one dependency-free C99 file (a header to include in one C file).

    Parameters
    ----------
    model : cmlp.Network, cmlp.sklearn.MLPClassifier or MLPRegressor, or Pipeline
        A trained network; a scikit-learn Pipeline of an optional StandardScaler and a cmlp
        estimator has its scaling applied inside the C functions.
    path : str or os.PathLike
        The file to write (written atomically: a temporary file renamed into place).
    variant : "float32", "float64" or "int8", optional
        The arithmetic of the C code; default: the network's dtype. int8 takes and returns
        float (see cmlp.inference.Model's quantize="int8": the same integers).
    name : str, default="cmlp_model"
        The prefix of every name in the file (a C identifier), so that several models can
        live in one program.

    Returns
    -------
    str
        path.

    Raises
    ------
    TypeError
        If model is not one of the types above.
    ValueError
        For an unknown variant, a name that is not a C identifier, an unfitted estimator,
        a pipeline with other steps, weights that are not finite, or a layer too wide for
        int8.

    Examples
    --------
    >>> import os, tempfile
    >>> from cmlp import Network
    >>> from cmlp.export_c import to_c
    >>> path = os.path.join(tempfile.mkdtemp(), "model.h")
    >>> to_c(Network([4, 8, 3], seed=0), path, name="tiny") == path
    True
    """
    data = c_source(model, variant=variant, name=name).encode("ascii")
    return write_atomically(path, lambda f: f.write(data), "the C file")
