"""The simulation package: one global cycle's :class:`Decision`, :class:`Outcome` and physics
(:mod:`mel_gym.simulation.cycle`), one reset and random-stream base (:mod:`mel_gym.simulation.base`), and the
simulators that use them: :class:`MELSimulator` (one learning job) and :class:`MultiJobSimulator` (several jobs
sharing the learners, :mod:`mel_gym.simulation.jobs`)."""

from mel_gym.simulation.base import SimulatorBase, episode_streams
from mel_gym.simulation.cycle import Decision, Outcome, Physics, energy_limit_j, run_physics
from mel_gym.simulation.jobs import MultiJobSimulator
from mel_gym.simulation.single import MELSimulator

__all__ = ["Decision", "MELSimulator", "MultiJobSimulator", "Outcome", "Physics", "SimulatorBase", "energy_limit_j",
           "episode_streams", "run_physics"]
