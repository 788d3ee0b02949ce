"""The Policy protocol (SB3's ``predict`` signature) and a factory from a name or a saved agent."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Anything with SB3's predict: obs (obs_dim,) or (n, obs_dim) -> (action(s), state)."""

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]: ...


@dataclass(frozen=True)
class Baseline:
    """A baseline: its class (built from the problem), what its plans write (``needs``: a key of
    :data:`BLOCKS_WRITTEN`, the action blocks the env must have) and the grids of the
    knobs it is tuned on (:mod:`mel_gym.agents.planners`; tuned on training seeds by ``evaluate``)."""

    cls_name: str
    needs: str  # a key of BLOCKS_WRITTEN: "shares", "resources", ..., "chains", "routes" or "redistribution"
    doc: str
    knobs: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    module: str = "baselines"  # the module of mel_gym.agents that defines the class

    @property
    def needs_amount(self) -> bool:
        """A plan for less than all of the cycle's samples needs the amount in the env's action."""
        return "fraction" in self.knobs

    @property
    def needs_effort(self) -> bool:
        """A plan that runs less than all of its local iterations (or idles) needs the effort in the env's action."""
        return bool(set(self.knobs) & set(EFFORT_KNOBS))


#: The fractions of the cycle's samples the fraction baselines are tuned over (1: all of them, the classical plan).
FRACTION_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)
#: The shares of its samples the shared-pool baselines are tuned over (Zhao et al. share 5% of the data).
SHARE_GRID = (0.05, 0.1, 0.2)
#: The knobs that set how much of a plan is run (:meth:`mel_gym.agents.baselines._ObservationPolicy.effort_for`).
EFFORT_KNOBS = ("effort", "full_effort_cycles", "loss_threshold")
#: The fractions the effort baselines are tuned over (with an energy price few samples pay).
EFFORT_FRACTIONS = (0.1, 0.2)

#: Baselines by name (``mel-gym evaluate --policy NAME``), besides ``random`` and saved agents.
BASELINES = {
    "equal": Baseline("EqualAllocation", "shares", "d/K to every learner (HU/ETA)"),
    "ha-sync": Baseline("HASync", "shares", "heterogeneity-aware sync allocation: the integer optimum of tau"),
    "ha-sync-fraction": Baseline("HASync", "shares", "HA-Sync for a fraction of the cycle's samples tuned on training "
                                 "seeds (more local iterations on fewer samples)", {"fraction": FRACTION_GRID}),
    "ha-sync-effort": Baseline("HASync", "shares", "HA-Sync for a fraction of the samples at a constant effort (the "
                               "share of its local iterations run), both tuned on training seeds",
                               {"fraction": EFFORT_FRACTIONS, "effort": (0.5, 0.75, 1.0)}),
    "ha-sync-schedule": Baseline("HASync", "shares", "open-loop: HA-Sync for a fraction of the samples at full effort "
                                 "for the first n cycles, then at effort u (0: idle); fraction, n and u tuned on "
                                 "training seeds", {"fraction": EFFORT_FRACTIONS, "full_effort_cycles": (2, 4, 8),
                                                    "effort": (0.0, 0.5)}),
    "ha-sync-loss-rule": Baseline("HASync", "shares", "HA-Sync for a fraction of the samples, trained (at effort u) "
                                  "only while the observed validation loss is above a threshold, else idle; fraction, "
                                  "threshold and u tuned on training seeds",
                                  {"fraction": EFFORT_FRACTIONS, "loss_threshold": (0.2, 0.3, 0.5, 0.7),
                                   "effort": (1.0,)}),
    "ha-async": Baseline("HAAsync", "shares", "heterogeneity-aware async allocation (least staleness)"),
    "ha-async-fraction": Baseline("HAAsync", "shares", "HA-Async for a fraction of the samples tuned on training seeds",
                                  {"fraction": FRACTION_GRID}),
    "task-only": Baseline("TaskOnly", "shares", "tasks optimised at fixed resources, energy-aware (Fig. 3)"),
    "resource-only": Baseline("ResourceOnly", "resources", "equal tasks, power/bandwidth/CPU optimised (Fig. 3)"),
    "joint": Baseline("Joint", "resources", "tasks, power, bandwidth and CPU optimised together (Fig. 3)"),
    "joint-fraction": Baseline("Joint", "resources", "joint optimisation for a fraction of the samples tuned on "
                               "training seeds", {"fraction": FRACTION_GRID}),
    "all": Baseline("AllLearners", "selection", "every learner takes part: HA-Sync over all"),
    "all-fraction": Baseline("AllLearners", "selection", "every learner takes part, HA-Sync for a fraction of the "
                             "samples tuned on training seeds", {"fraction": FRACTION_GRID}),
    "greedy": Baseline("GreedySelection", "selection", "selection maximising tau x samples trained"),
    "greedy-fraction": Baseline("GreedySelection", "selection", "greedy selection for a fraction of the samples tuned "
                                "on training seeds", {"fraction": FRACTION_GRID}),
    "ha-sync-threshold": Baseline("HASyncThreshold", "shares",
                                  "HA-Sync without learners whose predicted failure exceeds a threshold tuned on "
                                  "training seeds", {"threshold": (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)}),
    "expected-value": Baseline("ExpectedValue", "shares",
                               "tau and tasks maximising the expected work under the predicted failures"),
    "expected-value-fraction": Baseline(
        "ExpectedValue", "shares", "the expected-value optimiser for a fraction of the samples, a risk threshold and "
        "energy pacing, tuned together on training seeds (risky learners get tasks weighed by their success)",
        {"fraction": FRACTION_GRID, "threshold": (0.3, 0.6, 1.0), "pacing": (2.0, 5.0, 1000.0)}),
    "redundancy": Baseline("RedundancyRule", "backups", "HA-Sync with backups for the riskiest tasks"),
    "hover": Baseline("HoverAtBestPoint", "flight", "fly to the point with the largest HA-Sync tau and hover there"),
    "greedy-flight": Baseline("GreedyFlight", "flight", "fly to the reachable point with next cycle's largest tau"),
    "receding-horizon": Baseline("RecedingHorizon", "flight",
                                 "plan the next 3 waypoints for tau and propulsion energy (weight tuned on training "
                                 "seeds), fly to the first", {"energy_weight": (0.0, 1.0, 3.0, 10.0, 30.0)}),
    "receding-horizon-fraction": Baseline(
        "RecedingHorizon", "flight", "the receding-horizon flight with HA-Sync for a fraction of the samples, fraction "
        "and energy weight tuned together on training seeds",
        {"fraction": FRACTION_GRID, "energy_weight": (3.0, 10.0, 30.0, 100.0)}),
    "relocate": Baseline("RelocationHeuristic", "relocation",
                         "move a learner when its gain in tau over the cycles left outweighs the move's cost",
                         {"value_per_tau": (0.003, 0.01, 0.03, 0.1, 0.3)}),
    "relocate-fraction": Baseline(
        "RelocationHeuristic", "relocation", "the relocation heuristic with HA-Sync for a fraction of the samples, "
        "both tuned together on training seeds",
        {"fraction": FRACTION_GRID, "value_per_tau": (0.001, 0.003, 0.01, 0.03, 0.1)}),
    "milp": Baseline("PartitionMILP", "partition",
                     "learners to jobs maximising the per-job progress of the integer tau exactly (MILP, HiGHS)",
                     {"loss_exponent": (0.0, 1.0, 2.0)}),
    "milp-fraction": Baseline("PartitionMILP", "partition",
                              "the MILP partition with every job planning a fraction of its samples, fraction and "
                              "loss exponent tuned together on training seeds",
                              {"fraction": FRACTION_GRID, "loss_exponent": (0.0, 1.0, 2.0)}),
    "matching": Baseline("PartitionMatching", "partition",
                         "a balanced assignment of learners to jobs (Hungarian method)",
                         {"loss_exponent": (0.0, 1.0, 2.0)}),
    "greedy-jobs": Baseline("PartitionGreedy", "partition",
                            "the most capable learners first, each to the job it advances most",
                            {"loss_exponent": (0.0, 1.0, 2.0)}),
    "edf": Baseline("EarliestDeadlineFirst", "partition",
                    "earliest deadline first: the most capable learners on the open jobs due first; the jobs served "
                    "at once and the fraction of samples tuned on training seeds",
                    {"fraction": FRACTION_GRID, "jobs_at_once": (1, 2)}),
    "value-density": Baseline("ValueDensity", "partition",
                              "the open jobs with the most value per accuracy still to gain first; jobs at once and "
                              "fraction tuned on training seeds", {"fraction": FRACTION_GRID, "jobs_at_once": (1, 2)}),
    "triage": Baseline("Triage", "partition",
                       "earliest deadline first among the jobs that can still make it (accuracy gap <= progress per "
                       "cycle x cycles left); progress, jobs at once and fraction tuned on training seeds",
                       {"fraction": FRACTION_GRID, "jobs_at_once": (1, 2), "progress_per_cycle": (0.05, 0.1, 0.2)}),
    "chain-dp": Baseline("ChainDP", "chains", "greedy chains with their stages re-partitioned by dynamic programming "
                         "for the smallest bottleneck (PipeDream-style), samples split for the largest tau",
                         module="chain_baselines"),
    "chain-dp-fraction": Baseline("ChainDP", "chains", "chain-dp for a fraction of the cycle's samples tuned on "
                                  "training seeds", {"fraction": FRACTION_GRID}, module="chain_baselines"),
    "chain-greedy": Baseline("ChainGreedy", "chains", "greedy chains: the heaviest stage on the fastest device that "
                             "holds it, the nearest neighbour for the next stages", module="chain_baselines"),
    "single-device": Baseline("SingleDevice", "chains", "no split: the fastest devices that hold the whole model, one "
                              "chain each", module="chain_baselines"),
    "direct": Baseline("Direct", "routes", "the star: learners in the orchestrator's range send to it, the others idle",
                       module="route_baselines"),
    "direct-fraction": Baseline("Direct", "routes", "direct for a fraction of the cycle's samples tuned on training "
                                "seeds", {"fraction": FRACTION_GRID}, module="route_baselines"),
    "shortest-path-tree": Baseline("ShortestPathTree", "routes", "every learner on its least-time route (Dijkstra on "
                                   "|w| / r), aggregating at merge points, HA-Sync tasks on the tree",
                                   module="route_baselines"),
    "shortest-path-tree-fraction": Baseline("ShortestPathTree", "routes", "shortest-path-tree for a fraction of the "
                                            "cycle's samples tuned on training seeds", {"fraction": FRACTION_GRID},
                                            module="route_baselines"),
    "min-max-tree": Baseline("MinMaxTree", "routes", "every learner on the route whose slowest link is fastest "
                             "(bottleneck tree), HA-Sync tasks on the tree", module="route_baselines"),
    "min-max-tree-fraction": Baseline("MinMaxTree", "routes", "min-max-tree for a fraction of the cycle's samples "
                                      "tuned on training seeds", {"fraction": FRACTION_GRID}, module="route_baselines"),
    "random-tree": Baseline("RandomTree", "routes", "a random valid tree: each learner picks one of its allowed next "
                            "hops uniformly", module="route_baselines"),
    "shared-pool": Baseline("SharedPool", "redistribution", "HA-Sync after Zhao's shared pool: every learner sends "
                            "alpha of its samples (tuned on training seeds) equally to its neighbours",
                            {"alpha": SHARE_GRID}, module="redistribution_baselines"),
    "shared-pool-fraction": Baseline("SharedPool", "redistribution", "shared-pool for a fraction of the cycle's "
                                     "samples tuned on training seeds", {"alpha": SHARE_GRID, "fraction": FRACTION_GRID},
                                     module="redistribution_baselines"),
    "min-cost-transport": Baseline("MinCostTransport", "redistribution", "HA-Sync after the orchestrator's "
                                   "min-imbalance transport plan (linear program on the label histograms) within the "
                                   "caps and the sending time", module="redistribution_baselines"),
    "min-cost-transport-fraction": Baseline("MinCostTransport", "redistribution", "min-cost-transport for a fraction "
                                            "of the cycle's samples tuned on training seeds", {"fraction": FRACTION_GRID},
                                            module="redistribution_baselines"),
}
#: Every policy name: the baselines and the seeded random policy.
BASELINE_NAMES = (*BASELINES, "random")


#: The action blocks (:mod:`mel_gym.envs.action_blocks`) each kind of baseline writes: an env fits the baseline when
#: its action has all of them.
BLOCKS_WRITTEN = {"shares": ("shares",), "resources": ("shares", "power", "bandwidth", "cpu"),
                  "selection": ("selection",), "backups": ("shares", "participation", "backup"),
                  "flight": ("shares", "velocity"), "relocation": ("shares", "moves"), "partition": ("job",),
                  "chains": ("chain_slot", "chain_split"), "routes": ("next_hop", "route_share"),
                  "redistribution": ("shares", "send", "send_mode")}


def _fits(b: Baseline, problem: Any, raw: bool = False) -> bool:
    """Whether baseline ``b`` can act in the env of ``problem``: the action blocks it writes, the amount and the
    effort where its knobs set them, and a raw action (not planner knobs) unless ``raw`` asks for the raw policy."""
    if not raw and getattr(problem, "action_mode", "raw") != "raw":
        return False
    if _missing_action_part(b, problem):
        return False
    return problem.actions.has(*BLOCKS_WRITTEN[b.needs])


def policies_for(problem: Any) -> list[str]:
    """The baseline names that apply to an env's problem (its action's blocks), and ``random``."""
    return [name for name, b in BASELINES.items() if _fits(b, problem)] + ["random"]


def _why_not(b: Baseline, problem: Any) -> str:
    if getattr(problem, "action_mode", "raw") != "raw":
        return "the env's action is its planner's knobs (action_mode='planner'); baselines play the raw action"
    return _missing_action_part(b, problem) or (f"the env's action has no {b.needs} (blocks "
                                                 f"{list(BLOCKS_WRITTEN[b.needs])}; it has {list(problem.actions.names)})")


def _missing_action_part(b: Baseline, problem: Any) -> str | None:
    """Why the env's action lacks a part that baseline ``b``'s knobs set (the amount, the effort), or None."""
    if b.needs_amount and not getattr(problem, "amount_action", False):
        return "it plans for a fraction of the cycle's samples: make the env with amount_action=True"
    if b.needs_effort and not getattr(problem, "effort_action", False):
        return "it sets how much of its plan is run: make the env with effort_action=True"
    return None


def make_policy(spec: str, problem: Any, action_space: gym.spaces.Space, seed: int = 0, device: str = "cpu",
                raw: bool = False) -> Policy:
    """A policy from a baseline name (:data:`BASELINE_NAMES`) or a saved SB3 agent (``.zip`` path).

    Args:
        problem: the env's :class:`~mel_gym.envs.problem.AllocationProblem` (``env.unwrapped.problem``): the
            public constants and observation decoder the baselines decide from, and the env's action blocks.
        action_space: the single env's action space (for ``random``).
        raw: build a baseline for the env's raw action even where the env acts with planner knobs (the planner's
            own use).
    """
    from mel_gym.agents import baselines

    if spec in BASELINES:
        b = BASELINES[spec]
        if not _fits(b, problem, raw):
            raise ValueError(f"policy {spec!r} ({b.doc}) does not fit this env: {_why_not(b, problem)}; policies that "
                             f"do: {policies_for(problem)}")
        policy = getattr(importlib.import_module(f"mel_gym.agents.{b.module}"), b.cls_name)(problem)
        policy.tuning = dict(b.knobs)
        return policy
    if spec == "random":
        return baselines.RandomPolicy(action_space, seed=seed)
    path = Path(spec)
    if path.suffix == ".zip" or path.is_file():
        from mel_gym.agents.sb3 import load_agent

        return load_agent(path, device=device, problem=problem, action_space=action_space)
    raise ValueError(f"unknown policy {spec!r}: use one of {list(BASELINE_NAMES)} or a path to a saved agent (.zip)")
