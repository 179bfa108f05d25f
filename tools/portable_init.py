"""portable_init.py: the Python twin of tests/portable_init.h.

Weights, inputs and labels for the PyTorch comparisons, drawn from the same
splitmix64 streams as runtime/rng.h, bit for bit, with numpy's uint64
arithmetic (which wraps like C's). See tests/portable_init.h for the recipe;
change both files together or the committed references stop matching.
"""
import math

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
PI_TENSOR, PI_INPUT, PI_LABELS, PI_SAMPLE = 0x7E50, 0x7E51, 0x7E52, 0x7E53
CHUNK = 1 << 22  # draws per numpy batch: bounded memory for AlexNet's 37M-float fc6


def _mix(z):
    """splitmix64's output function, on Python ints."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _mix_np(s):
    """The same on a numpy uint64 array (multiplication wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = (s ^ (s >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def rng_for(seed, a, b):
    """The state rng_for(seed, a, b) leaves. In `r.s ^= rng_next(&r) + ...` GCC
    and clang read r.s after the call (the state already advanced); C leaves
    that order unspecified, and this follows what the compilers do."""
    s = (seed ^ 0x243F6A8885A308D3) & MASK
    for v, mult in ((a, 0xD1B54A32D192ED03), (b, 0x8CB92BA72F3D8DD7)):
        s = (s + GAMMA) & MASK
        z = _mix(s)
        s ^= (z + v * mult) & MASK
    s = (s + GAMMA) & MASK  # the discarded draw
    return s


def draws(state, count):
    """The next `count` rng_next() outputs after `state`, as uint64."""
    out = np.empty(count, dtype=np.uint64)
    for start in range(0, count, CHUNK):
        k = np.arange(start + 1, min(count, start + CHUNK) + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            s = np.uint64(state) + k * np.uint64(GAMMA)
        out[start:start + len(k)] = _mix_np(s)
    return out


def uniform(state, count):
    """rng_uniform: 24 random bits, exact in float32."""
    return (draws(state, count) >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def below(state, count, n):
    """rng_below(n)"""
    return (((draws(state, count) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32)).astype(np.int64)


def name_key(name):
    """FNV-1a, 64 bits."""
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def init_tensor(name, role, shape, fan_in, seed, gain=1.0):
    """role: weight, bias, bn_weight, bn_bias, running_mean, running_var"""
    count = int(np.prod(shape)) if shape else 1
    u = uniform(rng_for(seed, PI_TENSOR, name_key(name)), count)
    one, two, half = np.float32(1), np.float32(2), np.float32(0.5)
    if role in ("weight", "bias"):
        b = np.float32(gain / math.sqrt(max(fan_in, 1)))
        v = (two * u - one) * b
    elif role in ("bn_weight", "running_var"):
        v = half + u
    elif role in ("bn_bias", "running_mean"):
        v = (two * u - one) * half
    else:
        raise ValueError(f"unknown role {role}")
    return v.astype(np.float32).reshape(shape)


def init_input(n, c, h, w, seed):
    u = uniform(rng_for(seed, PI_INPUT, 0), n * c * h * w)
    return (np.float32(2) * u - np.float32(1)).reshape(n, c, h, w)


def init_labels(n, classes, seed):
    return below(rng_for(seed, PI_LABELS, 0), n, classes)


def sample_indices(name, size, k, seed):
    return below(rng_for(seed, PI_SAMPLE, name_key(name)), k, size)
