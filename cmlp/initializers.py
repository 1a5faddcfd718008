"""Initial weights and biases for one layer, drawn in float64 from the caller's Generator."""
import numpy as np

INITIALIZERS = ("he", "glorot", "uniform")


def initial_layer(rng, fan_in, fan_out, init):
    """(W, b) for a (fan_in, fan_out) layer.

    he:      W ~ normal(0, sqrt(2 / fan_in)), b = 0 (He et al. 2015, the default for ReLU).
    glorot:  W ~ uniform(-a, a), a = sqrt(6 / (fan_in + fan_out)), b = 0 (Glorot & Bengio 2010).
    uniform: W and b ~ uniform(-0.5, 0.5), the seed notebook's choice.
    """
    if init == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)), np.zeros(fan_out)
    if init == "glorot":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out)), np.zeros(fan_out)
    if init == "uniform":
        return rng.uniform(-0.5, 0.5, (fan_in, fan_out)), rng.uniform(-0.5, 0.5, fan_out)
    raise ValueError(f"unknown init {init!r}; expected one of {INITIALIZERS}")
