"""Export to ONNX: a standard graph that onnxruntime (or any ONNX runtime) runs to the same
probabilities as cmlp.

The graph, for a network of L layers (opset DEFAULT_OPSET unless asked otherwise, 13 at the
least, where Softmax works along one axis):

    X (N x n_features, the network's dtype)
    -> Gemm(W_0, b_0) -> Relu | Tanh | Sigmoid -> ... -> Gemm(W_{L-1}, b_{L-1})
    -> Softmax(axis=1) -> "probabilities" (N x n_classes)
    -> ArgMax(axis=1, keepdims=0) -> "label" (N, int64; the first largest, as numpy's)

(an "identity" activation adds no node; a squared_error network ends in Identity ->
"values", N x n_outputs, predict's values)

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
    else:  # squared_error: the identity output, predict's values
        nodes.append(helper.make_node("Identity", [current], ["values"], name="output"))
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
