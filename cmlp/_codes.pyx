"""The enums of cmlp/_codes.pxd for Python: Activation, Loss and OptimizerKind.

The one definition of the codes the kernels take. A member's name is the Python spelling in
upper case: ``Activation["RELU"]`` is the code of ``activation="relu"``.
"""
