"""Export to ONNX: a standard graph that onnxruntime (or any ONNX runtime) runs to the same
probabilities as cmlp.

The graph, for a network of L layers (opset DEFAULT_OPSET unless asked otherwise, 13 at the
least, where Softmax works along one axis):

    X (N x n_features, the network's dtype)
    -> Gemm(W_0, b_0) -> Relu | Tanh | Sigmoid -> ... -> Gemm(W_{L-1}, b_{L-1})
    -> Softmax(axis=1) -> "probabilities" (N x n_classes)
    -> ArgMax(axis=1, keepdims=0) -> "label" (N, int64; the first largest, as numpy's)

(an "identity" activation adds no node; a squared_error network ends in Identity ->
"values", N x n_outputs, predict's values, a poisson one in Exp -> "values"; a
binary_cross_entropy one in Sigmoid -> "probabilities" and "label", N x n_outputs 0/1)

Fitted cmlp.sklearn estimators export through to_model_for_estimator (their to_onnx),
whose outputs are scikit-learn's: the labels of classes_, not indices; and through
skl2onnx, inside pipelines (cmlp._skl2onnx registers the converters).

with the weights and biases as initializers of the network's dtype, the batch dimension
named "N", and cmlp's layer sizes and activation in the model's metadata. onnx is an
optional dependency (``pip install "cmlp[onnx]"``), imported only here.
"""
import numpy as np

from cmlp._files import write_atomically

__all__ = ["to_onnx", "to_model"]

DEFAULT_OPSET = 17
MIN_OPSET = 13
_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "identity": None}


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install "cmlp[onnx]"') from None
    return onnx


def to_model(network, *, opset=None):
    """The network as an ONNX model in memory, checked by ``onnx.checker``.

    Parameters
    ----------
    network : cmlp.Network
        The network to export.
    opset : int, optional
        The ONNX opset, 13 or later (default 17).

    Returns
    -------
    onnx.ModelProto
        A ``Gemm`` per layer, the activations between them, ``Softmax`` giving
        ``probabilities`` and ``ArgMax`` giving ``label``.

    Raises
    ------
    ImportError
        onnx is not installed (``pip install "cmlp[onnx]"``).
    ValueError
        An opset below 13.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.onnx import to_model
    >>> model = to_model(Network([784, 10, 10], seed=0))  # doctest: +SKIP
    """
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    opset = _check_opset(onnx, opset)
    elem_type = {np.dtype(np.float32): TensorProto.FLOAT,
                 np.dtype(np.float64): TensorProto.DOUBLE}[network.dtype]
    nodes, initializers = [], []
    current = "X"
    n_layers = len(network.weights)
    for l, (W, b) in enumerate(zip(network.weights, network.biases)):
        initializers.append(numpy_helper.from_array(np.array(W, copy=True), f"W{l}"))
        initializers.append(numpy_helper.from_array(np.array(b, copy=True), f"b{l}"))
        logits = f"Z{l}" if l < n_layers - 1 else "logits"
        nodes.append(helper.make_node("Gemm", [current, f"W{l}", f"b{l}"], [logits],
                                      name=f"layer{l}"))
        current = logits
        op = _ACTIVATION_OPS[network.activation]
        if l < n_layers - 1 and op is not None:
            nodes.append(helper.make_node(op, [logits], [f"A{l}"], name=f"activation{l}"))
            current = f"A{l}"
    if getattr(network, "loss", "cross_entropy") == "cross_entropy":
        nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=1,
                                      name="softmax"))
        nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1,
                                      keepdims=0, name="argmax"))
        outputs = [helper.make_tensor_value_info("probabilities", elem_type,
                                                 ["N", network.n_classes]),
                   helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])]
    elif network.loss == "binary_cross_entropy":  # a probability and a 0/1 label per output
        nodes.append(helper.make_node("Sigmoid", [current], ["probabilities"], name="logistic"))
        initializers.append(numpy_helper.from_array(
            np.full((1, 1), 0.5, dtype=network.dtype), "half"))
        nodes.append(helper.make_node("Greater", ["probabilities", "half"], ["above"],
                                      name="threshold"))
        nodes.append(helper.make_node("Cast", ["above"], ["label"], to=TensorProto.INT64,
                                      name="label_cast"))
        outputs = [helper.make_tensor_value_info("probabilities", elem_type,
                                                 ["N", network.n_outputs]),
                   helper.make_tensor_value_info("label", TensorProto.INT64,
                                                 ["N", network.n_outputs])]
    else:  # squared_error, poisson: predict's values (identity or exponential output)
        nodes.append(helper.make_node("Exp" if network.loss == "poisson" else "Identity",
                                      [current], ["values"], name="output"))
        outputs = [helper.make_tensor_value_info("values", elem_type,
                                                 ["N", network.n_outputs])]
    graph = helper.make_graph(
        nodes, "cmlp_network",
        inputs=[helper.make_tensor_value_info("X", elem_type, ["N", network.n_features])],
        outputs=outputs, initializer=initializers)
    from cmlp import __version__

    model = helper.make_model(
        graph, producer_name="cmlp", producer_version=__version__,
        opset_imports=[helper.make_opsetid("", opset)],
        doc_string=f"cmlp {network!r}: class probabilities and labels")
    # The lowest IR version that carries this opset, so that older runtimes load it too.
    model.ir_version = min(onnx.IR_VERSION, _ir_version_for(onnx, opset))
    helper.set_model_props(model, {"cmlp.layer_sizes": ",".join(map(str, network.layer_sizes)),
                                   "cmlp.activation": network.activation,
                                   "cmlp.loss": getattr(network, "loss", "cross_entropy")})
    onnx.checker.check_model(model, full_check=True)
    return model


def to_onnx(network, path, *, opset=None):
    """Write the network to path as an ONNX model, atomically.

    Written as Network.save writes (``cmlp._files.write_atomically``): all or nothing, with
    the permissions and errors of ``open(path, "wb")``, a symlink's target replaced.

    Parameters
    ----------
    network : cmlp.Network
        The network to export.
    path : str or os.PathLike
        The file to write.
    opset : int, optional
        The ONNX opset, 13 or later (default 17).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ImportError
        onnx is not installed (``pip install "cmlp[onnx]"``).
    ValueError
        An opset below 13.
    OSError
        The file cannot be written.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.onnx import to_onnx
    >>> to_onnx(Network([784, 10, 10], seed=0), "net.onnx")  # doctest: +SKIP
    'net.onnx'
    """
    model = to_model(network, opset=opset)
    data = model.SerializeToString()
    return write_atomically(path, lambda f: f.write(data), "the ONNX model")


def _check_opset(onnx, opset):
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {newest} (this onnx's "
                         f"newest), got {opset!r}")
    return int(opset)


def _ir_version_for(onnx, opset):
    """The IR version that introduced this opset (onnx.helper.VERSION_TABLE), or the
    installed onnx's own."""
    for _release, ir_version, ai_onnx, *_ in onnx.helper.VERSION_TABLE:
        if ai_onnx == opset:
            return ir_version
    return onnx.IR_VERSION


# --- scikit-learn estimators (cmlp.sklearn): labels, not indices -------------------------

class _GraphSink:
    """Collects the nodes and initializers of a plain onnx graph."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes, self.initializers = [], []

    def name(self, hint):
        return hint

    def initializer(self, name, array):
        self.initializers.append(self._numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, outputs, **attributes):
        self.nodes.append(self._helper.make_node(op, inputs, outputs, name=outputs[0] + "_node",
                                                 **attributes))


def estimator_nodes(estimator, sink, X, outputs, dtype):
    """Add to sink the nodes that compute a fitted cmlp.sklearn estimator's outputs from the
    input named X: for a classifier outputs = (label, probabilities) as predict and
    predict_proba give them (labels of classes_, not indices); for a regressor (values,).
    dtype: the numpy dtype the graph computes in. Shared by to_model_for_estimator and the
    skl2onnx converters (cmlp._skl2onnx), whose sink names things uniquely in its scope."""
    network = estimator._fitted_network()
    current = X
    n_layers = len(network.weights)
    for l, (W, b) in enumerate(zip(network.weights, network.biases)):
        W_name = sink.initializer(sink.name(f"W{l}"), np.asarray(W, dtype=dtype))
        b_name = sink.initializer(sink.name(f"b{l}"), np.asarray(b, dtype=dtype))
        Z = sink.name(f"Z{l}")
        sink.node("Gemm", [current, W_name, b_name], [Z])
        current = Z
        op = _ACTIVATION_OPS[network.activation]
        if l < n_layers - 1 and op is not None:
            A = sink.name(f"A{l}")
            sink.node(op, [Z], [A])
            current = A
    loss = network.loss
    if loss == "squared_error":
        sink.node("Identity", [current], [outputs[0]])
        return
    if loss == "poisson":
        sink.node("Exp", [current], [outputs[0]])
        return
    label, probabilities = outputs
    output = getattr(estimator, "_output", "multiclass")
    if loss == "cross_entropy":
        sink.node("Softmax", [current], [probabilities], axis=1)
    elif output == "binary":
        positive = sink.name("positive")
        sink.node("Sigmoid", [current], [positive])
        one = sink.initializer(sink.name("one"), np.ones((1, 1), dtype=dtype))
        negative = sink.name("negative")
        sink.node("Sub", [one, positive], [negative])
        sink.node("Concat", [negative, positive], [probabilities], axis=1)
    else:  # multilabel: a probability per label, predict's 0/1 indicator
        sink.node("Sigmoid", [current], [probabilities])
        half = sink.initializer(sink.name("half"), np.full((1, 1), 0.5, dtype=dtype))
        above = sink.name("above")
        sink.node("Greater", [probabilities, half], [above])
        sink.node("Cast", [above], [label], to=7)  # INT64
        return
    index = sink.name("index")
    sink.node("ArgMax", [probabilities], [index], axis=1, keepdims=0)
    classes = sink.initializer(sink.name("classes"), _onnx_labels(estimator.classes_))
    sink.node("Gather", [classes, index], [label], axis=0)


def _onnx_labels(classes):
    """classes_ as an ONNX tensor can hold them: int64, float64 or strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f":
        return classes.astype(np.float64)
    return np.array([str(c) for c in classes], dtype=object)


def label_elem_type(classes):
    from onnx import TensorProto

    kind = _onnx_labels(classes).dtype.kind
    return {"i": TensorProto.INT64, "f": TensorProto.DOUBLE}.get(kind, TensorProto.STRING)


def to_model_for_estimator(estimator, *, opset=None, dtype=None):
    """A fitted cmlp.sklearn estimator as an onnx.ModelProto (checked): input "X"
    (N x n_features), outputs "label" and "probabilities" (classifier: predict's labels,
    predict_proba's probabilities; multilabel: the 0/1 indicator) or "variable"
    (regressor, N x n_outputs). dtype: the input's and the computation's, by default the
    network's."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    opset = _check_opset(onnx, opset)
    network = estimator._fitted_network()
    dtype = np.dtype(network.dtype if dtype is None else dtype)
    elem_type = {np.dtype(np.float32): TensorProto.FLOAT,
                 np.dtype(np.float64): TensorProto.DOUBLE}[dtype]
    sink = _GraphSink()
    n = network.n_features
    if network.loss in ("squared_error", "poisson"):
        names = ("variable",)
        outputs = [helper.make_tensor_value_info("variable", elem_type, ["N", network.n_outputs])]
    else:
        names = ("label", "probabilities")
        multilabel = getattr(estimator, "_output", "") == "multilabel"
        n_classes = len(estimator.classes_)
        outputs = [
            helper.make_tensor_value_info(
                "label", TensorProto.INT64 if multilabel else label_elem_type(estimator.classes_),
                ["N", n_classes] if multilabel else ["N"]),
            helper.make_tensor_value_info("probabilities", elem_type, ["N", n_classes])]
    estimator_nodes(estimator, sink, "X", names, dtype)
    graph = helper.make_graph(sink.nodes, "cmlp_" + type(estimator).__name__,
                              inputs=[helper.make_tensor_value_info("X", elem_type, ["N", n])],
                              outputs=outputs, initializer=sink.initializers)
    from cmlp import __version__

    model = helper.make_model(graph, producer_name="cmlp", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", opset)],
                              doc_string=f"cmlp.sklearn {estimator!r}")
    model.ir_version = min(onnx.IR_VERSION, _ir_version_for(onnx, opset))
    onnx.checker.check_model(model, full_check=True)
    return model


def write_model(model, path):
    """Write an onnx model to path as to_onnx does (cmlp._files.write_atomically). Returns
    path."""
    data = model.SerializeToString()
    return write_atomically(path, lambda f: f.write(data), "the ONNX model")
