"""The Policy protocol (SB3's ``predict`` signature) and a factory from a name or a saved agent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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
    """A baseline: its class (built from the problem) and what the env must offer (capabilities)."""

    cls_name: str
    needs: str  # "shares", "resources", "selection", "backups", "flight", "relocation" or "partition"
    doc: str


#: Baselines by name (``mel-gym evaluate --policy NAME``), besides ``random`` and saved agents.
BASELINES = {
    "equal": Baseline("EqualAllocation", "shares", "d/K to every learner (HU/ETA)"),
    "ha-sync": Baseline("HASync", "shares", "heterogeneity-aware sync allocation: the integer optimum of tau"),
    "ha-async": Baseline("HAAsync", "shares", "heterogeneity-aware async allocation (least staleness)"),
    "task-only": Baseline("TaskOnly", "shares", "tasks optimised at fixed resources, energy-aware (Fig. 3)"),
    "resource-only": Baseline("ResourceOnly", "resources", "equal tasks, power/bandwidth/CPU optimised (Fig. 3)"),
    "joint": Baseline("Joint", "resources", "tasks, power, bandwidth and CPU optimised together (Fig. 3)"),
    "all": Baseline("AllLearners", "selection", "every learner takes part: HA-Sync over all"),
    "greedy": Baseline("GreedySelection", "selection", "selection maximising tau x samples trained"),
    "ha-sync-threshold": Baseline("HASyncThreshold", "shares",
                                  "HA-Sync without learners whose predicted failure exceeds a threshold tuned on "
                                  "training seeds"),
    "expected-value": Baseline("ExpectedValue", "shares",
                               "tau and tasks maximising the expected work under the predicted failures"),
    "redundancy": Baseline("RedundancyRule", "backups", "HA-Sync with backups for the riskiest tasks"),
    "hover": Baseline("HoverAtBestPoint", "flight", "fly to the point with the largest HA-Sync tau and hover there"),
    "greedy-flight": Baseline("GreedyFlight", "flight", "fly to the reachable point with next cycle's largest tau"),
    "receding-horizon": Baseline("RecedingHorizon", "flight",
                                 "plan the next 3 waypoints for tau and propulsion energy (weight tuned on training "
                                 "seeds), fly to the first"),
    "relocate": Baseline("RelocationHeuristic", "relocation",
                         "move a learner when its gain in tau over the cycles left outweighs the move's cost"),
    "milp": Baseline("PartitionMILP", "partition",
                     "learners to jobs maximising the relaxed per-job progress exactly (MILP, HiGHS)"),
    "matching": Baseline("PartitionMatching", "partition",
                         "a balanced assignment of learners to jobs (Hungarian method)"),
    "greedy-jobs": Baseline("PartitionGreedy", "partition",
                            "the most capable learners first, each to the job it advances most"),
}
#: Every policy name: the baselines and the seeded random policy.
BASELINE_NAMES = (*BASELINES, "random")


#: The problem's capability each kind of baseline needs (share baselines need a share action).
_CAPABILITY = {"selection": "selects_learners", "resources": "has_resources", "backups": "plans_backups",
               "flight": "flies_orchestrator", "relocation": "relocates_learners", "partition": "partitions_jobs"}


def _fits(needs: str, problem: Any) -> bool:
    if needs in _CAPABILITY:
        return bool(getattr(problem, _CAPABILITY[needs], False))
    return getattr(problem, "action_beta", None) is not None  # shares


def policies_for(problem: Any) -> list[str]:
    """The baseline names that apply to an env's problem (its capabilities), and ``random``."""
    return [name for name, b in BASELINES.items() if _fits(b.needs, problem)] + ["random"]


def make_policy(spec: str, problem: Any, action_space: gym.spaces.Space, seed: int = 0, device: str = "cpu") -> Policy:
    """A policy from a baseline name (:data:`BASELINE_NAMES`) or a saved SB3 agent (``.zip`` path).

    Args:
        problem: the env's :class:`~mel_gym.envs.problem.AllocationProblem` (``env.unwrapped.problem``): the
            public constants and observation decoder the baselines decide from, and the env's capabilities.
        action_space: the single env's action space (for ``random``).
    """
    from mel_gym.agents import baselines

    if spec in BASELINES:
        b = BASELINES[spec]
        if not _fits(b.needs, problem):
            raise ValueError(f"policy {spec!r} ({b.doc}) does not fit this env; policies that do: "
                             f"{policies_for(problem)}")
        return getattr(baselines, b.cls_name)(problem)
    if spec == "random":
        return baselines.RandomPolicy(action_space, seed=seed)
    path = Path(spec)
    if path.suffix == ".zip" or path.is_file():
        from mel_gym.agents.sb3 import load_agent

        return load_agent(path, device=device, problem=problem, action_space=action_space)
    raise ValueError(f"unknown policy {spec!r}: use one of {list(BASELINE_NAMES)} or a path to a saved agent (.zip)")
