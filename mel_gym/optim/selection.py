"""Learner selection in synchronous MEL: which learners take part this cycle (LearnerSelection-v0's problem).

The chosen learners S get HA-Sync's task sizes (:func:`mel_gym.optim.task_sizing.integer_max_tau`) for
the samples they can hold, D(S) = min(d, sum of their task task_caps) (in PL every learner can hold d, so D = d; in
FL a learner holds its local data). The value of a selection is the local work that reaches the
orchestrator, tau(S) x D(S): more learners give more capacity per cycle but, in FL, the ones with little
data add little. :func:`greedy_selection` follows greedy add and drop paths, then climbs flips and swaps;
:func:`best_selection` enumerates every subset (small K only), the check of the greedy rule.
All functions work on one instance: 1-D arrays of length K.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from mel_gym.optim.task_sizing import integer_max_tau
from mel_gym.world.costs import CycleCoefficients, EnergyBudget


def selected_plan(chosen: np.ndarray, coeffs: CycleCoefficients, cycle_deadline_s: float, samples_per_cycle: int,
                  max_local_iterations: int, task_caps: np.ndarray, energy: EnergyBudget | None = None) -> tuple[int, np.ndarray]:
    """(tau, d_k) of HA-Sync over the ``chosen`` learners for the samples they can hold; (0, zeros) if they
    cannot run one iteration."""
    task_caps = np.where(chosen, task_caps, 0)
    total = int(min(samples_per_cycle, task_caps.sum()))
    if total == 0:
        return 0, np.zeros(len(task_caps), dtype=np.int64)
    return integer_max_tau(coeffs, cycle_deadline_s, total, max_local_iterations, task_caps, energy)


def plan_value(plan: tuple[int, np.ndarray]) -> int:
    """tau x the samples the plan trains."""
    tau, task_sizes = plan
    return int(tau * task_sizes.sum())


def greedy_selection(value: Callable[[np.ndarray], float], available: np.ndarray) -> np.ndarray:
    """Greedy search over selections; bool (K,).

    Two greedy paths, adding the best learner at a time from nobody and dropping the least useful at a time from
    everyone, each remembering the best selection it passed; then local search from the better of the two: the
    move that raises ``value`` most, a flip (add or drop one available learner) or a swap (one out, another in),
    until none does.
    """
    available = np.asarray(available, dtype=bool)
    ids = np.flatnonzero(available)
    best, best_value = available.copy(), value(available)
    for start in (np.zeros_like(available), available.copy()):  # forward, then backward
        chosen = start.copy()
        for _ in range(len(ids)):
            steps = [k for k in ids if chosen[k] == start[k]]
            if not steps or (start.any() and chosen.sum() == 1):
                break
            scored = [(value(np.where(np.arange(len(chosen)) == k, ~chosen, chosen)), k) for k in steps]
            v, k = max(scored, key=lambda s: s[0])
            chosen[k] = ~chosen[k]
            if v > best_value:
                best, best_value = chosen.copy(), v
    return _local_search(value, best, best_value, ids)


def _local_search(value: Callable[[np.ndarray], float], chosen: np.ndarray, current: float,
                  ids: np.ndarray) -> np.ndarray:
    """Best-improvement flips and swaps from ``chosen`` until no move raises ``value``."""
    chosen = chosen.copy()
    while True:
        moves = [(k,) for k in ids] + [(i, j) for i in ids for j in ids if chosen[i] and not chosen[j]]
        top, top_move = current, None
        for move in moves:
            trial = chosen.copy()
            trial[list(move)] = ~trial[list(move)]
            v = value(trial)
            if v > top:
                top, top_move = v, move
        if top_move is None:
            return chosen
        chosen[list(top_move)] = ~chosen[list(top_move)]
        current = top


def best_selection(value: Callable[[np.ndarray], float], available: np.ndarray) -> np.ndarray:
    """The selection with the largest ``value`` over all 2^n subsets of the available learners (ties: the
    first found, larger subsets first); bool (K,). For small instances: the check of :func:`greedy_selection`."""
    ids = np.flatnonzero(available)
    best, best_value = np.zeros(len(available), dtype=bool), -np.inf
    for size in range(len(ids), -1, -1):
        for subset in itertools.combinations(ids, size):
            trial = np.zeros(len(available), dtype=bool)
            trial[list(subset)] = True
            v = value(trial)
            if v > best_value:
                best, best_value = trial, v
    return best
