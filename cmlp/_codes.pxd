# The codes the Python layer hands to the compiled kernels, declared once. Compiled modules
# cimport the members; Python reads the same enums from cmlp._codes (a member's name is its
# Python spelling in upper case: Activation["RELU"] is activation="relu").

cpdef enum Activation:
    RELU = 0
    TANH = 1
    LOGISTIC = 2
    IDENTITY = 3

cpdef enum Loss:              # the objective and its output layer
    CROSS_ENTROPY = 0         # softmax output, integer labels
    SQUARED_ERROR = 1         # identity output, targets: half the squared error summed over outputs
    BINARY_CROSS_ENTROPY = 2  # logistic output per unit, targets in [0, 1] (multilabel)
    POISSON = 3               # exponential output (log link), targets >= 0: half Poisson deviance

cpdef enum OptimizerKind:
    SGD = 0
    MOMENTUM = 1
    NESTEROV = 2
    ADAM = 3
