"""A record of what every env and baseline does on a fixed set of short episodes, so that a refactoring can be
shown to change nothing (tests/test_behaviour_record.py).

Each case is an env (ID and keyword arguments) played for a few cycles by a policy: seeded random actions of the
action space, or a baseline at its default knobs. What is recorded per case: a SHA-256 of every observation,
action, reward, termination flag and info value (exact bytes: identical to the last digit), and, for machines whose
float rounding differs (another CPU's BLAS kernels round the embedded training differently), the rewards and the
sums of the observations and actions per step, compared with a tolerance.

Record again (only when a change is *meant* to change behaviour, and say so in the commit)::

    .venv/bin/python tests/behaviour_record.py
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

RECORD_PATH = Path(__file__).with_name("behaviour_record.json")

#: (case name, env ID, keyword arguments): every env ID, with the amount, the effort and the planner where they apply,
#: and the shipped worlds whose observation or reward adds something (drift, arrivals, a changing world).
SMALL = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 3, "max_local_iterations": 20}
ENVS: list[tuple[str, str, dict]] = [
    ("task", "mel_gym/TaskAllocation-v0", {}),
    ("task-amount-effort", "mel_gym/TaskAllocation-v0", {"amount_action": True, "effort_action": True}),
    ("task-planner", "mel_gym/TaskAllocation-v0", {"action_mode": "planner"}),
    ("task-planner-levels", "mel_gym/TaskAllocation-v0",
     {"action_mode": "planner", "planner": "ha-sync-effort", "effort_action": True,
      "planner_levels": {"fraction": [0.1, 0.2], "effort": [0.0, 0.5, 1.0]}}),
    ("task-fl", "mel_gym/TaskAllocation-v0", {"mode": "fl"}),
    ("async", "mel_gym/AsyncTaskAllocation-v0", {"amount_action": True}),
    ("joint", "mel_gym/JointAllocation-v0", {"amount_action": True}),
    ("selection", "mel_gym/LearnerSelection-v0", {"amount_action": True}),
    ("reliable", "mel_gym/ReliableTaskAllocation-v0", {"amount_action": True}),
    ("drone", "mel_gym/DroneOrchestrator-v0", {"amount_action": True}),
    ("drone-power", "mel_gym/DroneOrchestrator-v0", {"power_control": True}),
    ("relocation", "mel_gym/LearnerRelocation-v0", {"amount_action": True, "relocation": {"controllable": 2}}),
    ("multijob", "mel_gym/MultiJob-v0", {"amount_action": True}),
    ("drift", "mel_gym/TaskAllocation-v0",
     {"scenario": "drift", "amount_action": True, "effort_action": True, "horizon_cycles": 3}),
    ("arrivals", "mel_gym/MultiJob-v0", {"scenario": "arrivals", "amount_action": True, "horizon_cycles": 3,
                                         "arrivals": {"last_cycle": 1},
                                         "reward": {"metric": "value"}}),
    ("dynamic", "mel_gym/ReliableTaskAllocation-v0", {"scenario": "dynamic", "horizon_cycles": 3}),
    ("chains", "mel_gym/SplitChain-v0", {"amount_action": True}),
    ("multihop", "mel_gym/MultiHop-v0", {"scenario": "multihop", "amount_action": True, "horizon_cycles": 3}),
    ("redistribution", "mel_gym/TaskAllocation-v0", {"scenario": "redistribution", "amount_action": True,
                                                     "horizon_cycles": 3}),
]
#: Baselines are played this many cycles (their planning, MILPs included, is the slow part).
BASELINE_CYCLES = 2
SEED = 7


def _kwargs(kwargs: dict) -> dict:
    """gym.make's keyword arguments of a case: SMALL unless the case names a shipped scenario."""
    if "scenario" in kwargs:
        return dict(kwargs)
    return {**SMALL, **kwargs}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    return value


def _digest(hasher: "hashlib._Hash", value: Any) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            hasher.update(key.encode())
            _digest(hasher, value[key])
        return
    array = np.ascontiguousarray(np.asarray(value))
    hasher.update(str(array.dtype).encode() + str(array.shape).encode())
    hasher.update(array.tobytes())


def play(env_id: str, kwargs: dict, policy_name: str) -> dict:
    """Play one case: its SHA-256 and the per-step summaries (rewards, observation and action sums)."""
    import gymnasium as gym

    import mel_gym  # noqa: F401 - registers the IDs
    from mel_gym.agents import make_policy

    env = gym.make(env_id, **_kwargs(kwargs))
    if policy_name == "random":
        env.action_space.seed(SEED)
        policy = None
        cycles = 10**9
    else:
        policy = make_policy(policy_name, env.unwrapped.problem, env.action_space)
        if policy.tuning:  # the middle of every knob's grid, so that the knobs' encoding is exercised too
            policy.set_knobs({knob: grid[len(grid) // 2] for knob, grid in policy.tuning.items()})
        cycles = BASELINE_CYCLES
    hasher = hashlib.sha256()
    obs, info = env.reset(seed=SEED)
    _digest(hasher, obs)
    _digest(hasher, info)
    rewards, obs_sums, action_sums = [], [float(np.sum(obs, dtype=np.float64))], []
    for _ in range(cycles):
        action = env.action_space.sample() if policy is None else policy.predict(obs, deterministic=True)[0]
        obs, reward, terminated, truncated, info = env.step(action)
        for value in (action, obs, np.float64(reward), np.bool_(terminated), np.bool_(truncated), info):
            _digest(hasher, value)
        rewards.append(float(reward))
        obs_sums.append(float(np.sum(obs, dtype=np.float64)))
        action_sums.append(float(np.sum(np.asarray(action, dtype=np.float64))))
        if terminated or truncated:
            break
    env.close()
    return {"sha256": hasher.hexdigest(), "rewards": rewards, "obs_sums": obs_sums, "action_sums": action_sums}


def cases() -> Iterator[tuple[str, str, dict, str]]:
    """(case name, env ID, kwargs, policy): random actions in every env, and every baseline that fits it."""
    import gymnasium as gym

    import mel_gym  # noqa: F401
    from mel_gym.agents import policies_for

    for name, env_id, kwargs in ENVS:
        env = gym.make(env_id, **_kwargs(kwargs))
        names = policies_for(env.unwrapped.problem)
        env.close()
        for policy in names:
            yield f"{name}/{policy}", env_id, kwargs, policy


def machine() -> str:
    """What decides float rounding here: the CPU's instruction set as torch sees it, torch's and numpy's versions."""
    import torch

    return f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()} torch {torch.__version__} " \
           f"numpy {np.__version__}"


def record() -> dict:
    import torch

    torch.set_num_threads(1)
    out = {"machine": machine(), "cases": {}}
    for name, env_id, kwargs, policy in cases():
        out["cases"][name] = play(env_id, kwargs, policy)
        print(name, out["cases"][name]["sha256"][:12], flush=True)
    return out


if __name__ == "__main__":
    result = record()
    RECORD_PATH.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(result['cases'])} cases -> {RECORD_PATH}", file=sys.stderr)
