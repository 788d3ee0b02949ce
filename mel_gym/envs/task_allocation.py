"""TaskAllocation-v0: choose every learner's task size in synchronous MEL.

:class:`TaskAllocationCore` holds the logic for a batch of n_envs worlds (the Gymnasium env below is the
batch of one; the vector env of a later issue is the batch of N), so no logic exists twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from mel_gym.config import Scenario, load_scenario
from mel_gym.envs.action_maps import task_sizes_from_action, validate_action
from mel_gym.envs.observation import DecodedObservation, ObservationCodec
from mel_gym.envs.render import render_ansi, render_rgb
from mel_gym.optim.task_allocation import relaxed_task_sizes
from mel_gym.sim import Decision, MELSimulator, Outcome
from mel_gym.world.timing import CycleCoefficients, max_sync_iterations


@dataclass(frozen=True)
class TaskAllocationProblem:
    """The public constants of a task-allocation scenario: what a baseline may know besides the observation."""

    mode: str  # "pl" or "fl"
    num_learners: int
    deadline_s: float  # T
    samples_per_cycle: int  # d
    max_local_iterations: int
    model_bits: float  # S_m
    sample_bits: float  # S_d
    cycles_per_sample: float  # C_m
    action_beta: float
    codec: ObservationCodec

    def decode(self, obs: np.ndarray) -> DecodedObservation:
        return self.codec.decode(obs)

    def coefficients(self, decoded: DecodedObservation) -> CycleCoefficients:
        """C0, C1, C2 from an observation's rates and CPU frequencies."""
        return CycleCoefficients.from_physics(
            decoded.rate_bps, decoded.rate_bps, decoded.cpu_hz, self.model_bits, self.sample_bits,
            self.cycles_per_sample, sends_data=self.mode == "pl",
        )


class TaskAllocationCore:
    """Batched task-allocation logic over a :class:`MELSimulator` of ``n_envs`` worlds."""

    def __init__(self, scenario: Scenario, n_envs: int = 1, device: str | torch.device = "cpu"):
        self.scenario = scenario
        self.sim = MELSimulator(scenario, n_envs=n_envs, device=device)
        self.n_envs = n_envs
        s, sim = scenario, self.sim
        self.problem = TaskAllocationProblem(
            mode=s.mode, num_learners=s.num_learners, deadline_s=s.cycle_deadline_s,
            samples_per_cycle=s.samples_per_cycle, max_local_iterations=s.max_local_iterations,
            model_bits=sim.model_bits, sample_bits=sim.sample_bits, cycles_per_sample=s.compute.cycles_per_sample,
            action_beta=s.action_beta,
            codec=ObservationCodec(
                num_learners=s.num_learners, bandwidth_hz=s.channel.bandwidth_hz,
                max_cpu_hz=sim.world.max_cpu_hz, cell_radius_m=s.placement.max_distance_m,
                samples_per_cycle=s.samples_per_cycle,
                max_task_cap=max(s.samples_per_cycle, sim.trainer.num_train_samples),
                horizon_cycles=s.horizon_cycles, num_classes=sim.trainer.num_classes, action_beta=s.action_beta,
            ),
        )
        self.observation_space = self.problem.codec.space()
        self.action_space = spaces.Box(-1.0, 1.0, shape=(s.num_learners,), dtype=np.float32)
        self.previous_share = np.zeros((n_envs, s.num_learners))
        self.reference_tau = s.max_local_iterations / 4.0  # tau_ref of the log-capacity feature

    # ------------------------------------------------------------------------------------------------ obs
    def observe(self) -> np.ndarray:
        """(n_envs, obs size) float32 observation of the coming cycle."""
        st, sim = self.sim.world.state, self.sim
        limited = np.isfinite(st.battery_capacity_j)
        battery = np.divide(st.battery_j, st.battery_capacity_j, out=np.ones_like(st.battery_j), where=limited)
        capacity = relaxed_task_sizes(sim.coefficients(), self.scenario.cycle_deadline_s, self.reference_tau)
        return self.problem.codec.encode(
            rate_bps=sim.world.rate_bps(), cpu_hz=st.cpu_hz, capacity=capacity, battery_fraction=battery,
            position_m=st.position_m,
            previous_share=self.previous_share, task_cap=sim.task_caps, cycle=st.cycle,
            test_loss=sim.loss, test_accuracy=sim.accuracy,
        )

    # ------------------------------------------------------------------------------------------------ API
    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        env_ids = list(range(self.n_envs)) if env_ids is None else list(env_ids)
        self.sim.reset(seeds, env_ids)
        self.previous_share[env_ids] = 0.0

    def decide(self, actions: np.ndarray) -> Decision:
        """The Decision that ``actions`` (n_envs, K) map to: task sizes, then the largest common tau."""
        s = self.scenario
        actions = validate_action(actions, (self.n_envs, s.num_learners))
        task_sizes = task_sizes_from_action(
            actions, self.sim.world.state.alive, s.action_beta, s.samples_per_cycle, self.sim.task_caps
        )
        tau = max_sync_iterations(self.sim.coefficients(), task_sizes, s.cycle_deadline_s, s.max_local_iterations)
        return Decision(task_sizes=task_sizes, local_iterations=np.where(task_sizes > 0, tau[:, None], 0))

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One cycle in every env: (obs, reward, terminated, truncated, info), all batched over envs."""
        decision = self.decide(actions)
        out = self.sim.step(decision)
        s, r = self.scenario, self.scenario.reward
        tau = decision.local_iterations.max(axis=1)
        gain = out.loss_before - out.loss_after if r.metric == "loss" else out.accuracy_after - out.accuracy_before
        reward = (
            r.scale * gain
            + r.tau_bonus * tau / s.max_local_iterations
            - r.energy_penalty_per_j * out.energy_j.sum(axis=1)
            - r.straggler_penalty * out.stragglers.sum(axis=1)
        )
        self.previous_share = decision.task_sizes / s.samples_per_cycle
        reached = out.accuracy_after >= (s.target_accuracy if s.target_accuracy is not None else np.inf)
        terminated = reached & s.terminate_on_target
        truncated = (self.sim.world.state.cycle >= s.horizon_cycles) & ~terminated
        return self.observe(), reward, terminated, truncated, self._info(out, tau, reached)

    def _info(self, out: Outcome, tau: np.ndarray, reached: np.ndarray) -> dict[str, np.ndarray]:
        info = {
            "cycle": self.sim.world.state.cycle.copy(),
            "tau": tau,
            "task_sizes": out.task_sizes,
            "time_s": out.time_s,
            "time_send_s": out.time_send_s,
            "time_compute_s": out.time_compute_s,
            "time_return_s": out.time_return_s,
            "energy_j": out.energy_j,
            "participants": out.participants,
            "stragglers": out.stragglers,
            "depleted": out.depleted,
            "diverged": out.diverged,
            "test_accuracy": out.accuracy_after,
            "test_loss": out.loss_after,
        }
        if self.scenario.target_accuracy is not None:
            info["is_success"] = reached
        return info

    def reset_info(self) -> dict[str, np.ndarray]:
        return {"cycle": self.sim.world.state.cycle.copy(), "test_accuracy": self.sim.accuracy.copy(),
                "test_loss": self.sim.loss.copy()}


def episode_seed(np_random: np.random.Generator) -> int:
    """The simulator seed of a new episode, drawn from the env's Gymnasium generator (``self.np_random``)."""
    return int(np_random.integers(2**63))


def _scalar_info(info: dict[str, np.ndarray], i: int = 0) -> dict[str, Any]:
    """Env ``i``'s slice of a batched info dict, with Python scalars for per-env values."""
    out = {}
    for key, value in info.items():
        item = value[i]
        out[key] = item.item() if np.ndim(item) == 0 else item
    return out


class TaskAllocationEnv(gym.Env):
    """Synchronous MEL task allocation: each global cycle, split d samples among K learners.

    A global cycle of T seconds: the orchestrator sends the model (and, in PL, d_k fresh samples) to every
    learner that gets a task, each runs tau local iterations of gradient descent on its d_k samples, returns
    its model, and the orchestrator averages them weighted by d_k. The agent picks the split; tau is then the
    largest integer (up to ``max_local_iterations``) for which every learner with d_k > 0 meets T.

    ## Action space

    ``Box(-1, 1, (K,), float32)``: a_k -> weight exp(beta * a_k) (beta = ``action_beta``, 3), 0 when
    a_k = -1 or the learner's battery is empty; shares = weights / sum; d_k = shares x d rounded to integers
    summing to d (largest remainders), capped at the learner's task cap (FL). a = 0 is equal allocation.
    Out-of-range values are clipped to [-1, 1]; NaN/inf or a wrong shape raise ``ValueError`` and leave the
    env as it was.

    ## Observation space

    ``Box(float32, (8K + 3,))``, per-learner blocks of K values then 3 globals:

    | index        | feature                                   | raw unit   |
    |--------------|-------------------------------------------|------------|
    | 0 .. K-1     | spectral efficiency R_k / W / 10 (coming cycle) | bit/s/Hz |
    | K .. 2K-1    | CPU frequency / scenario's max            | Hz         |
    | 2K .. 3K-1   | log capacity ln(c_k / (d/K)) / beta in [-2, 2], c_k = (T - C0_k) / (C2_k tau_ref + C1_k), tau_ref = max_local_iterations / 4 | samples |
    | 3K .. 4K-1   | battery fraction (1 without batteries)    | J          |
    | 4K .. 5K-1   | x position / cell radius                  | m          |
    | 5K .. 6K-1   | y position / cell radius                  | m          |
    | 6K .. 7K-1   | previous task share d_k / d               | samples    |
    | 7K .. 8K-1   | task cap / d (1 in PL, local data in FL)  | samples    |
    | 8K           | cycles run / horizon                      |            |
    | 8K + 1       | last test loss / ln(classes), clipped at 10 | nats     |
    | 8K + 2       | last test accuracy                        |            |

    The log capacity is derived from the rate and CPU blocks (the quantity HA-Sync optimises over, see
    ``mel_gym/envs/observation.py``).

    ``env.unwrapped.problem.decode(obs)`` turns an observation back into named arrays with units.

    ## Reward

    ``scale x gain + tau_bonus x tau / max_local_iterations - energy_penalty_per_j x energy - straggler_penalty
    x stragglers``, gain = test-loss decrease (``metric: loss``, default) or test-accuracy increase
    (``metric: accuracy``) of the global model over the cycle, measured by really training it.

    ## Episode

    Starts with a fresh world (positions, shadowing, CPUs, batteries) and a fresh model. Truncated after
    ``horizon_cycles`` cycles; terminated when ``terminate_on_target`` is set and the test accuracy reaches
    ``target_accuracy``.

    ## Info

    ``tau``, ``task_sizes``, per-learner ``time_s`` (and its send / compute / return parts), ``energy_j``,
    ``participants``, ``stragglers`` (missed T), ``depleted`` (battery ran out), ``diverged``,
    ``test_accuracy``, ``test_loss``, ``cycle``, and ``is_success`` when a target accuracy is set.

    ## Arguments

    ``scenario``: preset name ("default", "paper"), YAML path, dict or Scenario; ``device``: trainer device
    ("cpu", "cuda", "auto"); any other keyword overrides that scenario key (nested sections as dicts), e.g.
    ``gym.make("mel_gym/TaskAllocation-v0", mode="fl", reward={"metric": "accuracy"})``.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}

    def __init__(self, scenario: Scenario | str | dict = "default", *, device: str = "cpu",
                 render_mode: str | None = None, **overrides: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not one of {self.metadata['render_modes']} or None")
        self.scenario = load_scenario(scenario, overrides)
        self.core = TaskAllocationCore(self.scenario, n_envs=1, device=device)
        self.problem = self.core.problem
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self.render_mode = render_mode
        self._needs_reset = True
        self._last_obs: np.ndarray | None = None
        self._last_tau: int | None = None

    @property
    def simulator(self) -> MELSimulator:
        return self.core.sim

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.core.reset([episode_seed(self.np_random)])
        self._needs_reset = False
        self._last_obs, self._last_tau = self.core.observe()[0], None
        return self._last_obs, _scalar_info(self.core.reset_info())

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        action = validate_action(action, self.action_space.shape)  # raises before any state changes
        obs, reward, terminated, truncated, info = self.core.step(action[None])
        self._needs_reset = bool(terminated[0] or truncated[0])
        self._last_obs, self._last_tau = obs[0], int(info["tau"][0])
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), _scalar_info(info)

    def render(self) -> str | np.ndarray | None:
        """``ansi``: a text table of the learners; ``rgb_array``: a map of the cell; None without a mode."""
        if self.render_mode is None or self._last_obs is None:
            return None
        decoded = self.problem.decode(self._last_obs)
        if self.render_mode == "ansi":
            return render_ansi(decoded, self._last_tau)
        return render_rgb(decoded, self._last_tau, self.scenario.placement.max_distance_m)
