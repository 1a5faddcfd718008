"""What a training call hands the kernels beside the data, the parameters and the work
buffers (see cmlp/_settings.pxd): built once per fit by the Python layer, which validates
the values first; the kernels read them as C structs, without a dictionary lookup.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t


cdef class OptimizerSettings:
    """An update rule's hyperparameters and the updates taken so far.

    kind is an OptimizerKind. learning_rate is set per epoch by the schedule; the kernels
    advance step by one per update (Adam's bias corrections read it).
    """

    def __init__(self, int kind, *, double learning_rate=0.0, double momentum=0.0,
                 double beta1=0.9, double beta2=0.999, double epsilon=1e-8, long step=0):
        self.kind = kind
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.step = step

    cdef OptimizerConfig config(self):
        cdef OptimizerConfig config
        config.kind = self.kind
        config.learning_rate = self.learning_rate
        config.momentum = self.momentum
        config.beta1 = self.beta1
        config.beta2 = self.beta2
        config.epsilon = self.epsilon
        config.step = self.step
        return config

    def __reduce__(self):  # an OptimizerState is pickled with the estimator that holds it
        return (_optimizer_settings, (self.kind, self.learning_rate, self.momentum,
                                      self.beta1, self.beta2, self.epsilon, self.step))

    def __repr__(self):
        return (f"OptimizerSettings(kind={self.kind}, learning_rate={self.learning_rate!r}, "
                f"momentum={self.momentum!r}, beta1={self.beta1!r}, beta2={self.beta2!r}, "
                f"epsilon={self.epsilon!r}, step={self.step})")


def _optimizer_settings(kind, learning_rate, momentum, beta1, beta2, epsilon, step):
    return OptimizerSettings(kind, learning_rate=learning_rate, momentum=momentum,
                             beta1=beta1, beta2=beta2, epsilon=epsilon, step=step)


cdef class Objective:
    """The loss the kernels minimise: loss (a Loss code); targets, an (n, outputs)
    C-contiguous array of the parameters' dtype for every loss but CROSS_ENTROPY (else
    None); sample_weight, (n,) of that dtype or None (all 1); l2_per_weight, whether l2 is
    divided by the batch's weight sum (scikit-learn's alpha). Rows are those of the data.
    """

    def __init__(self, int loss, targets=None, sample_weight=None, *, bint l2_per_weight=False):
        self.loss = loss
        self.targets = targets
        self.sample_weight = sample_weight
        self.l2_per_weight = l2_per_weight


cdef class DropoutPlan:
    """One epoch's dropout, as the kernels draw it (cmlp/dropout.py holds the same math in
    numpy): per layer (the inputs, then each hidden layer) a uint32 threshold below which
    a unit's hash drops it, and the scale 1 / (1 - rate) of the units kept; the seed and
    the epoch feed the hashes."""

    def __init__(self, const uint32_t[::1] thresholds not None,
                 const double[::1] scales not None, uint64_t seed, int64_t epoch):
        if thresholds.shape[0] != scales.shape[0]:
            raise ValueError(f"{thresholds.shape[0]} dropout thresholds but "
                             f"{scales.shape[0]} scales; expected one of each per layer")
        self.thresholds = thresholds.base
        self.scales = scales.base
        self.seed = seed
        self.epoch = epoch

    cdef Dropout config(self):
        """The struct of it; it points into this object's arrays, so it is valid while the
        object lives."""
        cdef Dropout d
        cdef const uint32_t[::1] thresholds = self.thresholds
        cdef const double[::1] scales = self.scales
        d.seed = self.seed
        d.epoch = self.epoch
        d.n_layers = thresholds.shape[0]
        d.thresholds = &thresholds[0] if d.n_layers > 0 else NULL
        d.scales = &scales[0] if d.n_layers > 0 else NULL
        return d
