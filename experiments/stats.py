"""Confidence intervals for results tables: the percentile bootstrap of a mean, and of a paired mean difference.

Every policy of ``mel-gym evaluate`` / ``run`` plays the same seeds, so two policies' returns on seed i are a pair:
the paired difference removes the variation the seeds share (an easy world is easy for every policy) and gives a far
tighter interval than comparing two independent means. Resampling uses a fixed generator (``seed``), so a table is
reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Bootstrap resamples per interval.
BOOTSTRAP_SAMPLES = 10_000


@dataclass(frozen=True)
class Interval:
    """A mean and its two-sided confidence interval [low, high] at ``level``; n = the values it is computed from."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def text(self, digits: int = 3) -> str:
        """``1.234 [1.100, 1.350]``."""
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def row(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n, "level": self.level}


def bootstrap_mean(values: Sequence[float], level: float = 0.95, samples: int = BOOTSTRAP_SAMPLES,
                   seed: int = 0) -> Interval:
    """The mean of ``values`` with the percentile bootstrap interval: resample the values with replacement
    ``samples`` times, take the (1 - level) / 2 and (1 + level) / 2 quantiles of the resampled means.

    Raises:
        ValueError: no values, a non-finite value, or ``level`` outside (0, 1).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_mean needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"bootstrap_mean: values must be finite, got {x[~np.isfinite(x)][:3].tolist()}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level} must lie in (0, 1)")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(samples, x.size))].mean(axis=1)
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(x.mean()), float(low), float(high), int(x.size), level)


def paired_difference(a: dict[int, float], b: dict[int, float], level: float = 0.95,
                      samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> Interval:
    """Mean of a[s] - b[s] over the seeds both have, with its bootstrap interval (seed -> value maps).

    Raises:
        ValueError: when the two share no seed.
    """
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("paired_difference: the two policies share no seed")
    return bootstrap_mean([a[s] - b[s] for s in shared], level, samples, seed)
