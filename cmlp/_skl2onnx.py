"""skl2onnx converters for cmlp.sklearn's estimators, so that skl2onnx.to_onnx converts
pipelines holding them. Registered by cmlp.sklearn when skl2onnx can be imported (see
register); the graph is cmlp.onnx.estimator_nodes', written into skl2onnx's container.
"""
import importlib.abc
import importlib.util
import sys

import numpy as np


class _ContainerSink:
    """cmlp.onnx's node sink over a skl2onnx scope and container: names made unique."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def initializer(self, name, array):
        from onnx import TensorProto

        array = np.asarray(array)
        if array.dtype == object:
            kind, values = TensorProto.STRING, [str(v).encode("utf-8") for v in array]
        else:
            kind = {np.dtype(np.float32): TensorProto.FLOAT,
                    np.dtype(np.float64): TensorProto.DOUBLE,
                    np.dtype(np.int64): TensorProto.INT64}[array.dtype]
            values = array.ravel().tolist()
        self.container.add_initializer(name, kind, list(array.shape), values)
        return name

    def node(self, op, inputs, outputs, **attributes):
        self.container.add_node(op, inputs, outputs,
                                name=self.scope.get_unique_operator_name(op), **attributes)


def _dtype(operator):
    from skl2onnx.common.data_types import DoubleTensorType

    return np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType) else np.float32


def _convert(scope, operator, container):
    from cmlp.onnx import estimator_nodes

    estimator_nodes(operator.raw_operator, _ContainerSink(scope, container),
                    operator.inputs[0].full_name,
                    [output.full_name for output in operator.outputs], _dtype(operator))


def _classifier_shapes(operator):
    from skl2onnx.common.data_types import (
        DoubleTensorType, FloatTensorType, Int64TensorType, StringTensorType)

    estimator = operator.raw_operator
    N = operator.inputs[0].get_first_dimension()
    n_classes = len(estimator.classes_)
    tensor = DoubleTensorType if _dtype(operator) == np.float64 else FloatTensorType
    if getattr(estimator, "_output", "") == "multilabel":
        operator.outputs[0].type = Int64TensorType([N, n_classes])
    elif np.asarray(estimator.classes_).dtype.kind in "biu":
        operator.outputs[0].type = Int64TensorType([N])
    elif np.asarray(estimator.classes_).dtype.kind == "f":
        operator.outputs[0].type = DoubleTensorType([N])
    else:
        operator.outputs[0].type = StringTensorType([N])
    operator.outputs[1].type = tensor([N, n_classes])


def _regressor_shapes(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    N = operator.inputs[0].get_first_dimension()
    tensor = DoubleTensorType if _dtype(operator) == np.float64 else FloatTensorType
    operator.outputs[0].type = tensor([N, operator.raw_operator.n_outputs_])


def register():
    """Register the converters of cmlp.sklearn.MLPClassifier and MLPRegressor with skl2onnx
    (options zipmap and nocl as for scikit-learn's classifiers). Returns False if skl2onnx
    is not installed."""
    try:
        from skl2onnx import update_registered_converter
    except ImportError:
        return False
    from cmlp.sklearn import MLPClassifier, MLPRegressor

    update_registered_converter(MLPClassifier, "CmlpMLPClassifier", _classifier_shapes,
                                _convert, options={"zipmap": [True, False, "columns"],
                                                   "nocl": [True, False]})
    update_registered_converter(MLPRegressor, "CmlpMLPRegressor", _regressor_shapes, _convert)
    return True


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Registers the converters once skl2onnx has been imported: importing skl2onnx
    eagerly would cost every user of cmlp.sklearn seconds."""

    def find_spec(self, name, path=None, target=None):
        if name != "skl2onnx":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            register()

        spec.loader.exec_module = exec_and_register
        return spec


def install():
    """Register now if skl2onnx is imported, else as soon as it is."""
    if "skl2onnx" in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
