# INTERNAL to cmlp (see cmlp/_kernels.pxd).
#
# What a training call hands the kernels beside the data, the parameters and the work
# buffers: the optimizer's hyperparameters and step count, the objective, one epoch's
# dropout. Typed objects the Python layer builds once per fit (cmlp/optimizers.py,
# cmlp/network.py, cmlp/dropout.py) and the kernels read as C structs.
from libc.stdint cimport int64_t, uint32_t, uint64_t


cdef struct OptimizerConfig:
    int kind              # an OptimizerKind
    double learning_rate
    double momentum       # MOMENTUM and NESTEROV
    double beta1          # ADAM
    double beta2
    double epsilon
    long step             # updates done so far (ADAM's bias correction)


cdef struct Dropout:
    uint64_t seed
    int64_t epoch
    int n_layers              # entries of thresholds and scales: the inputs, then each
                              # hidden layer's outputs
    const uint32_t* thresholds  # a unit is dropped when its hash is below this (0: none)
    const double* scales        # 1 / (1 - rate): kept units are scaled up by this


cdef class OptimizerSettings:
    cdef public int kind
    cdef public double learning_rate
    cdef public double momentum
    cdef public double beta1
    cdef public double beta2
    cdef public double epsilon
    cdef public long step
    cdef OptimizerConfig config(self)


cdef class Objective:
    cdef readonly int loss
    cdef readonly object targets
    cdef readonly object sample_weight
    cdef readonly bint l2_per_weight


cdef class DropoutPlan:
    cdef readonly object thresholds
    cdef readonly object scales
    cdef readonly uint64_t seed
    cdef readonly int64_t epoch
    cdef Dropout config(self)
