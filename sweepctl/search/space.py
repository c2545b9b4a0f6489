"""Parameter values as W&B's sweeps library computes them, and run configs in W&B's key order.

W&B (``sweeps`` 0.3.0, ``params.py``) draws ``u = random.uniform(0, 1)`` per parameter and maps
it through scipy's inverse CDF (``ppf``). The functions here do the same arithmetic with the
standard library, in the same order of operations, so a value matches W&B's bit for bit where
only ``+ - * /`` and rounding are involved (categorical, int_uniform, uniform, every q_*
rounding). Where W&B calls numpy's ``exp``/``log`` or scipy's ``ndtri``, the result may differ
in the last few ulps (numpy's SIMD ``exp``/``log`` are not correctly rounded, so W&B itself
differs between CPUs); the beta quantile is ours, see :func:`_beta_ppf`.
"""

from __future__ import annotations

import copy
import math
import struct
from collections.abc import Callable, Iterable
from statistics import NormalDist
from typing import Any

from sweepctl.spec.model import Param

# What numpy's float64 -> int64 cast gives on x86-64 for NaN, infinities and out-of-range
# values (the "integer indefinite"): W&B returns it for an int-`q` draw that is not finite.
_INT64_INDEFINITE = -(2**63)
_STANDARD_NORMAL = NormalDist()


def wandb_order(params: Iterable[Param]) -> tuple[Param, ...]:
    """Parameters in the order W&B visits them: sorted name by name at each nesting level.

    W&B sorts each ``parameters:`` mapping and recurses, which is the order of the path tuples.
    It differs from sorting flattened names when a sibling's name continues with ``-`` or
    ``.`` (``a-b`` sorts after the block ``a`` here, before ``a.wbnest[...]`` flattened).
    """
    return tuple(sorted(params, key=lambda p: p.path))


def run_config(selection: Iterable[tuple[Param, Any]]) -> dict[str, Any]:
    """Nest ``(param, value)`` pairs into a run config with W&B's key order.

    Top-level leaves come first in sorted order; then nested blocks, built in the sorted order
    of their flattened names (W&B pops the flattened keys and re-inserts them as sub-dicts).
    """
    pairs = list(selection)
    config: dict[str, Any] = {}
    for param, value in sorted(pairs, key=lambda pv: pv[0].path):
        if len(param.path) == 1:
            config[param.path[0]] = copy.deepcopy(value)
    for param, value in sorted(pairs, key=lambda pv: pv[0].sort_key):
        if len(param.path) > 1:
            node = config
            for key in param.path[:-1]:
                node = node.setdefault(key, {})
            node[param.path[-1]] = copy.deepcopy(value)
    return config


def sample(param: Param, u: float) -> Any:
    """The value W&B gives ``param`` for the uniform draw ``u`` in [0, 1)."""
    try:
        ppf = _PPF[param.distribution]
    except KeyError:
        raise ValueError(f"unknown distribution {param.distribution!r}") from None
    return ppf(param.spec, u)


# --- scipy's generic ppf rules -------------------------------------------------------------


def _randint_ppf(u: float, low: int, high: int) -> int:
    """scipy ``randint(low, high).ppf(u)``: smallest k with cdf(k) >= u; ``low - 1`` at u == 0."""
    if u == 0:
        return low - 1
    n = high - low
    vals = float(math.ceil(u * n + low)) - 1.0
    # scipy steps one back when float error in u*n put it past the first k with cdf(k) >= u.
    below = min(max(vals - 1.0, low), high)
    return int(below if (math.floor(below) - low + 1.0) / n >= u else vals)


def _uniform_ppf(u: float, low: float, high: float) -> float:
    """scipy ``uniform(loc=low, scale=high-low).ppf(u)``; NaN unless the scale is positive."""
    scale = high - low
    if not scale > 0:
        return math.nan
    return u * scale + low


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:  # numpy gives inf
        return math.inf


def _norm_ppf(u: float) -> float:
    if u <= 0:
        return -math.inf
    if u >= 1:
        return math.inf
    return _STANDARD_NORMAL.inv_cdf(u)


def _round_half_even(x: float) -> float:
    """``numpy.round(x)``: half to even, keeping the sign of zero (``round(-0.3)`` is -0.0)."""
    if not math.isfinite(x):
        return x
    return float(round(x)) or math.copysign(0.0, x)


def _as_int64(x: float) -> int:
    """``numpy.float64.astype(int)`` on x86-64."""
    if math.isfinite(x) and -(2.0**63) <= x < 2.0**63:
        return int(x)
    return _INT64_INDEFINITE


def quantize(x: float, q: float) -> float | int:
    """``round(x / q) * q``; an int when ``q`` is an int (as written in the file), else a float."""
    value = _round_half_even(x / q) * q
    if isinstance(q, int) and not isinstance(q, bool):
        return _as_int64(value)
    return float(value)


# --- the beta quantile ---------------------------------------------------------------------


def _beta_tails(a: float, b: float, x: float) -> tuple[float, float]:
    """``(I_x(a, b), 1 - I_x(a, b))``, the smaller one computed directly (continued fraction).

    Taking the larger one as ``1 - smaller`` keeps each tail accurate where it is small.
    """
    if x <= 0:
        return 0.0, 1.0
    if x >= 1:
        return 1.0, 0.0
    log_front = (
        a * math.log(x)
        + b * math.log1p(-x)
        - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))
    )
    # The fraction converges fast below about the mean; above it, use I_x(a,b) = 1 - I_1-x(b,a).
    if x < (a + 1) / (a + b + 2):
        lower = _exp(log_front) * _beta_fraction(a, b, x) / a
        return lower, 1.0 - lower
    upper = _exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b
    return 1.0 - upper, upper


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated with the modified Lentz method."""
    tiny = 1e-300  # keeps Lentz's ratios away from division by zero
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            step = c * d
            result *= step
        if abs(step - 1.0) < 1e-16:
            break
    return result


def _float_bits(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _bits_float(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def _least_float(holds: Callable[[float], bool], high: float) -> float:
    """The smallest float in (0, high] where the monotone ``holds`` is true (bisecting bits)."""
    lo, hi = _float_bits(0.0), _float_bits(high)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if holds(_bits_float(mid)):
            hi = mid
        else:
            lo = mid
    return _bits_float(hi)


def _beta_ppf(u: float, a: float, b: float) -> float:
    """scipy ``beta(a, b).ppf(u)``; NaN unless a > 0 and b > 0.

    Bisection to the float against our incomplete beta: within 1e-13 (relative) of scipy for
    shapes up to 100, 1e-10 for extreme ones such as (0.01, 1000); exact for a = b = 1.
    """
    if not (a > 0 and b > 0):
        return math.nan
    if u <= 0:
        return 0.0
    if a == 1 and b == 1:
        return float(u)
    # Compare in the tail u sits in: for u > 1/2, the upper tail with 1 - u (exact there).
    tail = 1.0 - u

    def below(lower: float, upper: float) -> bool:
        """Whether a point with these tails lies left of the quantile."""
        return lower < u if u <= 0.5 else upper > tail

    if not below(*_beta_tails(a, b, 0.5)):
        return _least_float(lambda x: not below(*_beta_tails(a, b, x)), 0.5)
    # A quantile above 1/2 is found as 1 - y, so that one near 1 keeps its precision.
    return 1.0 - _least_float(lambda y: below(*reversed(_beta_tails(b, a, y))), 0.5)


# --- one ppf per distribution --------------------------------------------------------------


def _constant(spec: dict[str, Any], u: float) -> Any:
    return spec["value"]


def _categorical(spec: dict[str, Any], u: float) -> Any:
    # At u == 0 scipy's index is -1, so W&B picks the last value.
    return spec["values"][_randint_ppf(u, 0, len(spec["values"]))]


def _categorical_w_probabilities(spec: dict[str, Any], u: float) -> Any:
    total: float = 0
    for index, p in enumerate(spec["probabilities"]):
        total += p
        if u < total:
            return spec["values"][index]
    # numpy's argmin over an all-False mask is 0: probabilities summing to just under 1.
    return spec["values"][0]


def _int_uniform(spec: dict[str, Any], u: float) -> int:
    return _randint_ppf(u, spec["min"], spec["max"] + 1)


def _uniform(spec: dict[str, Any], u: float) -> float:
    return float(_uniform_ppf(u, spec["min"], spec["max"]))


def _q_uniform(spec: dict[str, Any], u: float) -> float | int:
    return quantize(_uniform_ppf(u, spec["min"], spec["max"]), spec["q"])


def _log_uniform(spec: dict[str, Any], u: float) -> float:
    return _exp(_uniform_ppf(u, spec["min"], spec["max"]))


def _log_uniform_values(spec: dict[str, Any], u: float) -> float:
    return _exp(_uniform_ppf(u, math.log(spec["min"]), math.log(spec["max"])))


def _q_log_uniform(spec: dict[str, Any], u: float) -> float | int:
    return quantize(_log_uniform(spec, u), spec["q"])


def _q_log_uniform_values(spec: dict[str, Any], u: float) -> float | int:
    return quantize(_log_uniform_values(spec, u), spec["q"])


def _inv_log_uniform(spec: dict[str, Any], u: float) -> float:
    return _exp(-_uniform_ppf(1 - u, spec["min"], spec["max"]))


def _inv_log_uniform_values(spec: dict[str, Any], u: float) -> float:
    low, high = -math.log(spec["max"]), -math.log(spec["min"])
    return _exp(-_uniform_ppf(1 - u, low, high))


def _normal(spec: dict[str, Any], u: float) -> float:
    sigma, mu = spec["sigma"], spec["mu"]
    if not sigma > 0:  # scipy needs scale > 0
        return math.nan
    return float(_norm_ppf(u) * sigma + mu)


def _q_normal(spec: dict[str, Any], u: float) -> float | int:
    return quantize(_normal(spec, u), spec["q"])


def _log_normal(spec: dict[str, Any], u: float) -> float:
    # scipy's lognorm(s=sigma, scale=exp(mu)): exp(sigma * z) * exp(mu), not exp(mu + sigma*z).
    sigma, scale = spec["sigma"], _exp(spec["mu"])
    if not (sigma > 0 and scale > 0):
        return math.nan
    if u <= 0:
        return 0.0
    return _exp(sigma * _norm_ppf(u)) * scale + 0.0


def _q_log_normal(spec: dict[str, Any], u: float) -> float | int:
    return quantize(_log_normal(spec, u), spec["q"])


def _beta(spec: dict[str, Any], u: float) -> float:
    return _beta_ppf(u, spec["a"], spec["b"])


def _q_beta(spec: dict[str, Any], u: float) -> float | int:
    return quantize(_beta(spec, u), spec["q"])


_PPF: dict[str, Callable[[dict[str, Any], float], Any]] = {
    "constant": _constant,
    "categorical": _categorical,
    "categorical_w_probabilities": _categorical_w_probabilities,
    "int_uniform": _int_uniform,
    "uniform": _uniform,
    "q_uniform": _q_uniform,
    "log_uniform": _log_uniform,
    "log_uniform_values": _log_uniform_values,
    "q_log_uniform": _q_log_uniform,
    "q_log_uniform_values": _q_log_uniform_values,
    "inv_log_uniform": _inv_log_uniform,
    "inv_log_uniform_values": _inv_log_uniform_values,
    "normal": _normal,
    "q_normal": _q_normal,
    "log_normal": _log_normal,
    "q_log_normal": _q_log_normal,
    "beta": _beta,
    "q_beta": _q_beta,
}
DISTRIBUTIONS = tuple(_PPF)


MISSING = object()  # what `lookup` gives for a path the config does not have


def lookup(config: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a nested run config, or :data:`MISSING` when it is absent."""
    node: Any = config
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return MISSING
        node = node[name]
    return node
