"""What the public sides of the envs that wrap the world's problem share: the world's problem inside them and the
observation's layout, the world's blocks then the env's own (:class:`WorldBlocksView`: MultiJob-v0's
:class:`~mel_gym.envs.multijob_problem.MultiJobProblem` and the topology envs'), and for the topology envs
(SplitChain-v0's :class:`~mel_gym.envs.chain_problem.ChainProblem`, MultiHop-v0's
:class:`~mel_gym.envs.route_problem.RouteProblem`) the one amount of the cycle's samples a plan is for
(:class:`TopologyView`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from gymnasium import spaces

from mel_gym.envs.action_maps import action_from_level, fraction_from_action, level_from_fraction, samples_from_fraction
from mel_gym.envs.observation import DecodedObservation


class WorldBlocksView:
    """A mixin for frozen dataclasses with a field ``world`` (:class:`~mel_gym.envs.problem.AllocationProblem`) and a
    ``layout`` (the observation's :class:`~mel_gym.envs.features.FeatureLayout`: the world's blocks first)."""

    world: Any
    layout: Any

    @property
    def num_learners(self) -> int:
        return self.world.num_learners

    @property
    def codec(self):
        """The world part's codec (the first :attr:`world_size` entries)."""
        return self.world.codec

    @property
    def world_size(self) -> int:
        return self.world.codec.size

    @property
    def size(self) -> int:
        return self.layout.size

    def space(self) -> spaces.Box:
        return self.layout.space()

    def world_view(self, obs: np.ndarray) -> DecodedObservation:
        """The world's named arrays of an observation (its first :attr:`world_size` entries)."""
        return self.world.codec.decode(np.asarray(obs)[..., : self.world_size])


class TopologyView(WorldBlocksView):
    """:class:`WorldBlocksView` for frozen dataclasses that also have the fields ``actions`` (the action layout),
    ``fraction_levels``, ``min_fraction`` and ``sample_fraction``: one amount for the whole plan."""

    actions: Any
    fraction_levels: int
    min_fraction: float
    sample_fraction: float

    @property
    def amount_action(self) -> bool:
        return self.actions.has("amount")

    @property
    def samples_per_cycle(self) -> int:
        return self.world.samples_per_cycle

    @property
    def planned_samples(self) -> int:
        return int(samples_from_fraction(self.sample_fraction, self.samples_per_cycle))

    def with_fraction(self, fraction: float) -> Any:
        """This view for plans that process the fraction ``fraction`` of d, as the env reads it back from the
        amount level (ValueError where the action has no amount and the fraction is below 1)."""
        f = float(fraction)
        if not 0.0 < f <= 1.0:
            raise ValueError(f"fraction {fraction!r} must lie in (0, 1]")
        if f < 1.0 and not self.amount_action:
            raise ValueError(f"a plan for a fraction {f:g} of the cycle's samples needs an env whose action has the "
                             "amount: env parameter amount_action=True")
        if not self.amount_action:
            return self
        level = level_from_fraction(f, self.min_fraction, self.fraction_levels)
        read = fraction_from_action(action_from_level(level, self.fraction_levels), self.min_fraction)
        return dataclasses.replace(self, sample_fraction=float(read))

    def amount_level(self) -> np.ndarray:
        """(1,) the amount level of this view's fraction, or (0,) where the action has no amount."""
        if not self.amount_action:
            return np.zeros(0, dtype=np.int64)
        return np.array([level_from_fraction(self.sample_fraction, self.min_fraction, self.fraction_levels)],
                        dtype=np.int64)

    @property
    def job_names(self) -> tuple[str, ...]:
        return ()
