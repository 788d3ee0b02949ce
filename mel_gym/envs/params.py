"""Each env's own parameters: episode, action map, reward and (async) aggregation.

The scenario (:class:`mel_gym.config.Scenario`) is the world and the learning job, shared by every env; these
dataclasses are what an env adds on top. They are set by keyword arguments of ``gym.make`` (or a run
config's ``env_kwargs``), validated like scenario keys: an out-of-range value raises
:class:`~mel_gym.schema.ConfigError` naming the dotted key, e.g. ``reward.metric``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from mel_gym.schema import ConfigError, build, describe_fields, param


@dataclass(frozen=True)
class RewardParams:
    """reward = scale x gain + tau_bonus x (tau on finished data) - energy and straggler penalties (docs/envs.md)."""

    metric: str = param("loss", choices=("loss", "accuracy", "value"),
                        doc="loss: decrease of validation loss; accuracy: increase of validation accuracy; value (MultiJob-v0): "
                            "w_j when job j reaches its target accuracy while open (by its deadline with arrivals)")
    scale: float = param(1.0, low=0.0, low_open=True, doc="multiplies the learning-quality gain")
    tau_bonus: float = param(0.1, low=0.0,
                             doc="adds tau_bonus x sum_k(d_k tau_k over learners that finished) / (d max_local_iterations)")
    energy_penalty_per_j: float = param(0.0, unit="1/J", low=0.0, doc="subtracts this x the cycle's energy")
    straggler_penalty: float = param(0.0, low=0.0,
                                     doc="subtracts this x the learners that missed T or the energy cap")
    move_penalty_per_kj: float = param(0.0, unit="1/kJ", low=0.0,
                                       doc="LearnerRelocation: subtracts this x the kJ spent moving learners")


#: Action modes of every env: the env's own (raw) action, or a few knobs of the env's planner.
ACTION_MODES = ("raw", "planner")


@dataclass(frozen=True)
class EnvParams:
    """What every mel_gym env has: the episode, the reward and the action's form (docs/envs.md, "Amount" and
    "Planner actions")."""

    horizon_cycles: int = param(25, low=1, high=1000000, doc="global cycles per episode (then truncated)")
    terminate_on_target: bool = param(False, doc="end the episode (terminated) once the scenario's target accuracy is reached")
    reward: RewardParams = field(default_factory=RewardParams)
    amount_action: bool = param(False, doc="add the amount to the raw action: how many of the cycle's samples the plan "
                                           "processes (f in [min_fraction, 1] of d; one value, MultiJob-v0 one per "
                                           "job); false: every plan processes all d, as the -v0 envs always did")
    min_fraction: float = param(0.05, low=0.0, high=1.0, low_open=True,
                                doc="the smallest fraction of d the amount can ask for (amount value -1)")
    fraction_levels: int = param(20, low=2, high=1000,
                                 doc="discrete actions (LearnerSelection-v0, MultiJob-v0): the amount's levels, "
                                     "f = min_fraction .. 1 evenly spaced")
    action_mode: str = param("raw", choices=ACTION_MODES,
                             doc="raw: the env's own action; planner: a Box(-1, 1) of the env's planner knobs "
                                 "(fraction of samples and the planner's own), turned into the raw action by the "
                                 "env's planner")
    effort_action: bool = param(False, doc="add the effort to the raw action (last, after the amount; Box-action envs): "
                                           "the fraction u in [0, 1] of the planned local iterations that is run, "
                                           "tau' = floor(u tau); learners left with tau' = 0 are idle (no task, no "
                                           "cost); u = 1 runs the plan as it is")
    planner: str | None = param(None, doc="action_mode planner: the baseline with knobs whose knobs are the action "
                                          "(e.g. ha-sync-effort); null = the env's own planner")
    planner_levels: dict | None = param(None, low=0.0, doc="action_mode planner: a list of values for every knob of the "
                                                           "planner (e.g. {fraction: [0.1, 0.2], effort: [0, 1]}); "
                                                           "the action is then a MultiDiscrete, one level per knob; "
                                                           "null = a Box(-1, 1) over the knobs' ranges")


@dataclass(frozen=True)
class ShareParams(EnvParams):
    """Envs whose action is shares on the simplex (TaskAllocation, JointAllocation)."""

    action_beta: float = param(3.0, low=0.0, high=50.0, low_open=True, doc="share weight = exp(beta * a)")


@dataclass(frozen=True)
class DroneParams(ShareParams):
    """DroneOrchestrator: shares, optionally transmit powers, and the drone's velocity."""

    power_control: bool = param(False, doc="add a block of K transmit powers after the shares: P_k in "
                                           "[P_max - channel.power_range_db, P_max], as JointAllocation-v0")


@dataclass(frozen=True)
class MultiJobParams(EnvParams):
    """MultiJob-v0: the episode ends on the jobs' own targets."""

    terminate_on_target: bool = param(False, doc="end the episode (terminated) once every job with a target_accuracy "
                                                 "has reached it")


@dataclass(frozen=True)
class AggregationParams:
    """AsyncTaskAllocation: how models that ran different numbers of local iterations are averaged."""

    staleness_weighting: str = param("data", choices=("data", "polynomial", "work"),
                                     doc="data: d_k; polynomial: d_k (1 + s_k)^-exponent; work: d_k tau_k")
    staleness_exponent: float = param(0.5, low=0.0, doc="exponent of the polynomial staleness weighting")
    max_staleness: int | None = param(None, low=0, doc="cap tau_k at min_j tau_j + this; null = no bound")


@dataclass(frozen=True)
class AsyncParams(ShareParams):
    """AsyncTaskAllocation: shares plus the aggregation rule."""

    aggregation: AggregationParams = field(default_factory=AggregationParams)


def build_params(cls: type[EnvParams], overrides: Mapping[str, Any] | None = None) -> EnvParams:
    """Validated env parameters of class ``cls``: its defaults with ``overrides`` (nested sections as dicts)."""
    return build(cls, dict(overrides or {}), "env parameter")


def describe_params(cls: type[EnvParams]) -> list[tuple[str, Any, str, str]]:
    """(dotted key, default, allowed, doc) of every parameter of an env."""
    return describe_fields(cls)


def check_terminate(params: EnvParams, target_accuracy: float | None) -> None:
    """``terminate_on_target`` needs the scenario's ``target_accuracy``."""
    if params.terminate_on_target and target_accuracy is None:
        raise ConfigError("env parameter 'terminate_on_target' is true but the scenario's 'target_accuracy' is null; "
                          "set both")
