"""What every simulator shares: its worlds, one reset of the world and of the episode's random streams, and the
refusal to step an env that was never reset. :class:`mel_gym.simulation.single.MELSimulator` (one job) and
:class:`mel_gym.simulation.jobs.MultiJobSimulator` (several jobs) add their learning side on top."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from mel_gym.config import Scenario
from mel_gym.learning.trainer import Scores, resolve_device
from mel_gym.simulation.cycle import energy_limit_j
from mel_gym.world.prediction import OutagePredictor
from mel_gym.world.state import World


def episode_streams(seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int]
                    ) -> tuple[list[np.random.Generator], ...]:
    """One episode's independent generators per seed: (world, data, model initialisation, dynamics, events, links),
    each a list over the envs. Children 0-2 of each seed are those of the static world before the dynamics existed
    (the same draws); child 3 drives the dynamics, child 4 the learning side's events: the concept drift of the one
    job (:mod:`mel_gym.learning.drift`) or the jobs' arrivals (:mod:`mel_gym.arrivals`); child 5 gives the key of the
    device-to-device links (:mod:`mel_gym.world.d2d`). Spawning a sixth child leaves the first five as they were.
    None of them depends on the actions: the same seed gives every policy the same world."""
    if len(seeds) != len(env_ids):
        raise ValueError(f"reset got {len(seeds)} seeds for {len(env_ids)} envs")
    streams = [(s if isinstance(s, np.random.SeedSequence) else np.random.SeedSequence(s)).spawn(6) for s in seeds]
    return tuple([np.random.default_rng(st[c]) for st in streams] for c in range(6))


class SimulatorBase:
    """``n_envs`` worlds of the scenario's K learners, each with its own world, data and dynamics generators.

    Args:
        scenario: the validated scenario.
        n_envs: independent worlds stepped together (>= 1).
        device: torch device of the trainers ("cpu", "cuda", "auto").
    """

    def __init__(self, scenario: Scenario, n_envs: int, device: str | torch.device):
        if n_envs < 1:
            raise ValueError(f"n_envs={n_envs} must be >= 1")
        self.scenario = scenario
        self.n_envs, self.num_learners = n_envs, scenario.num_learners
        self.device = resolve_device(device)
        self.world = World(scenario, n_envs)
        #: what the orchestrator predicts of the coming cycle (outages, CPU drops): one per world, shown by every env
        self.predictor = OutagePredictor(self.world)
        # Placeholders until reset() gives every env its own streams.
        self._rng_world = [np.random.default_rng(i) for i in range(n_envs)]
        self._rng_data = [np.random.default_rng(i) for i in range(n_envs)]
        self._rng_dynamics = [np.random.default_rng(i) for i in range(n_envs)]
        self._was_reset = np.zeros(n_envs, dtype=bool)

    def start_episodes(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: list[int]
                       ) -> tuple[list[np.random.Generator], list[np.random.Generator], list[np.random.Generator]]:
        """The start of a reset: split the seeds (:func:`episode_streams`), keep each env's world, data and dynamics
        generators and reset its world; returns the (data, model initialisation, events) generators the learning
        side draws from. The subclass marks the envs reset (:meth:`finish_reset`) once its learning side is."""
        rng_world, rng_data, rng_init, rng_dynamics, rng_events, rng_links = episode_streams(seeds, env_ids)
        for i, rw, rd, rdyn in zip(env_ids, rng_world, rng_data, rng_dynamics):
            self._rng_world[i], self._rng_data[i], self._rng_dynamics[i] = rw, rd, rdyn
        self.world.reset(env_ids, rng_world, rng_dynamics, [int(rng.integers(2**63)) for rng in rng_links])
        return rng_data, rng_init, rng_events

    def finish_reset(self, env_ids: Sequence[int]) -> None:
        self._was_reset[list(env_ids)] = True

    def check_reset(self) -> None:
        """RuntimeError naming the envs that were never reset."""
        if not self._was_reset.all():
            raise RuntimeError(f"call reset() for envs {np.flatnonzero(~self._was_reset).tolist()} before step()")

    def init_scores(self, shape: tuple[int, ...]) -> None:
        """The models' scores (:class:`Scores`), zero until reset: ``loss`` / ``accuracy`` on the validation split
        (what the reward, observation and termination use) and ``test_loss`` / ``test_accuracy`` on the test split
        (reported only); shape (n_envs,) for one job, (n_envs, J) for several."""
        self.loss, self.accuracy = np.zeros(shape), np.zeros(shape)
        self.test_loss, self.test_accuracy = np.zeros(shape), np.zeros(shape)

    def scores(self) -> Scores:
        """A copy of the current scores of every env's model(s)."""
        return Scores(self.loss.copy(), self.accuracy.copy(), self.test_loss.copy(), self.test_accuracy.copy())

    def store_scores(self, index, scores: Scores) -> None:
        """Write freshly evaluated ``scores`` at ``index`` (env ids, or (env ids, job ids)) of the four score arrays."""
        self.loss[index], self.accuracy[index] = scores.loss, scores.accuracy
        self.test_loss[index], self.test_accuracy[index] = scores.test_loss, scores.test_accuracy

    def energy_limit_j(self) -> np.ndarray:
        """(n_envs, K) what each learner may spend this cycle: min(energy cap, remaining battery), J (inf if neither)."""
        return energy_limit_j(self.scenario, self.world)
