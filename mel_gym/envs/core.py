"""What every allocation env shares: the public problem constants, the batched core and the Gymnasium env.

An env is a thin view: its :class:`AllocationCore` subclass maps a batch of actions (n_envs, action size) to a
:class:`~mel_gym.sim.Decision`; the base class runs the simulator, computes the reward, the episode ends and
the info, and encodes the observation. :class:`MELEnv` is the single Gymnasium env (a core of one env);
:class:`mel_gym.envs.vector.MELVectorEnv` is the vector env over the same core (N envs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from mel_gym.config import Scenario, load_scenario
from mel_gym.envs.action_maps import action_from_cpu, action_from_power, action_from_shares, validate_action
from mel_gym.envs.observation import DecodedObservation, ObservationCodec
from mel_gym.envs.render import render_ansi, render_rgb
from mel_gym.optim.joint_allocation import JointInstance
from mel_gym.optim.task_allocation import EnergyBudget, relaxed_task_sizes
from mel_gym.sim import Decision, MELSimulator, Outcome
from mel_gym.world.radio import dbm_to_watt, shannon_rate_bps
from mel_gym.world.timing import CycleCoefficients, max_iterations


@dataclass(frozen=True)
class AllocationProblem:
    """The public constants of a scenario: what a baseline may know besides the observation. Units: s, bit,
    cycles, W, Hz, J."""

    mode: str  # "pl" or "fl"
    num_learners: int
    deadline_s: float  # T
    samples_per_cycle: int  # d
    max_local_iterations: int
    model_bits: float  # S_m
    sample_bits: float  # S_d
    cycles_per_sample: float  # C_m
    kappa: float  # compute energy kappa f^2 per cycle
    action_beta: float
    tx_power_w: float  # default and largest transmit power P_max
    power_range_db: float  # JointAllocation: power chosen in [P_max - range, P_max]
    bandwidth_hz: float  # default bandwidth per learner; K x this is the total in JointAllocation
    min_cpu_hz: float  # JointAllocation: lowest CPU frequency
    noise_psd_w_per_hz: float
    energy_cap_j: float | None  # per-learner energy cap of a cycle
    codec: ObservationCodec
    action_blocks: int = 1  # 1: task shares; 4: tasks, power, bandwidth, CPU (JointAllocation)

    @property
    def total_bandwidth_hz(self) -> float:
        return self.num_learners * self.bandwidth_hz

    @property
    def sends_data(self) -> bool:
        return self.mode == "pl"

    def decode(self, obs: np.ndarray) -> DecodedObservation:
        return self.codec.decode(obs)

    def channel_gain(self, decoded: DecodedObservation) -> np.ndarray:
        """Linear channel power gain recovered from the observed rate at the default power and bandwidth."""
        snr = np.expm1(decoded.rate_bps / self.bandwidth_hz * np.log(2.0))
        return snr * self.noise_psd_w_per_hz * self.bandwidth_hz / self.tx_power_w

    def rate_bps(self, decoded: DecodedObservation, power_w: np.ndarray | None = None,
                 bandwidth_hz: np.ndarray | None = None) -> np.ndarray:
        """Rates with other transmit powers or bandwidths (defaults: the scenario's)."""
        if power_w is None and bandwidth_hz is None:
            return decoded.rate_bps
        power = self.tx_power_w if power_w is None else power_w
        bandwidth = self.bandwidth_hz if bandwidth_hz is None else bandwidth_hz
        return shannon_rate_bps(bandwidth, power, self.channel_gain(decoded), self.noise_psd_w_per_hz)

    def coefficients(self, decoded: DecodedObservation, power_w: np.ndarray | None = None,
                     bandwidth_hz: np.ndarray | None = None, cpu_hz: np.ndarray | None = None) -> CycleCoefficients:
        """C0, C1, C2 from an observation (and optionally chosen powers, bandwidths and CPU frequencies)."""
        rate = self.rate_bps(decoded, power_w, bandwidth_hz)
        cpu = decoded.cpu_hz if cpu_hz is None else cpu_hz
        return CycleCoefficients.from_physics(rate, rate, cpu, self.model_bits, self.sample_bits,
                                              self.cycles_per_sample, sends_data=self.sends_data)

    def energy_limit(self, decoded: DecodedObservation) -> np.ndarray:
        """What each learner may spend this cycle: min(energy cap, remaining battery), J (inf if neither)."""
        cap = np.inf if self.energy_cap_j is None else self.energy_cap_j
        return np.minimum(cap, decoded.battery_j)

    def energy_budget(self, decoded: DecodedObservation) -> EnergyBudget | None:
        """The energy side of the task-allocation problem at default resources (None without limits)."""
        limit = self.energy_limit(decoded)
        if not np.any(np.isfinite(limit)):
            return None
        upload_s = np.minimum(self.model_bits / np.maximum(decoded.rate_bps, 1e-300), self.deadline_s)
        return EnergyBudget(limit_j=limit, fixed_j=self.tx_power_w * upload_s,
                            per_sample_iteration_j=self.kappa * decoded.cpu_hz**2 * self.cycles_per_sample)

    def encode_action(self, decoded: DecodedObservation, task_shares: np.ndarray, power_w: np.ndarray | None = None,
                      bandwidth_shares: np.ndarray | None = None, cpu_hz: np.ndarray | None = None) -> np.ndarray:
        """The action that carries out a plan: (K,) task shares, and for JointAllocation powers (W),
        bandwidth shares and CPU frequencies (Hz); resources left None mean full power, an equal bandwidth
        share and the learner's top CPU frequency. Zero shares encode as -1."""
        actions = [action_from_shares(task_shares, self.action_beta)]
        if self.action_blocks == 4:
            K = self.num_learners
            power = np.full(K, self.tx_power_w) if power_w is None else power_w
            bandwidth = np.full(K, 1.0 / K) if bandwidth_shares is None else bandwidth_shares
            cpu = decoded.cpu_hz if cpu_hz is None else cpu_hz
            actions += [action_from_power(power, self.tx_power_w, self.power_range_db),
                        action_from_shares(bandwidth, self.action_beta) if bandwidth_shares is not None
                        else np.zeros(K, np.float32),
                        action_from_cpu(cpu, self.min_cpu_hz, decoded.cpu_hz)]
        return np.concatenate(actions).astype(np.float32)

    def joint_instance(self, decoded: DecodedObservation) -> JointInstance:
        """The joint task/resource problem of one observation (see :mod:`mel_gym.optim.joint_allocation`)."""
        return JointInstance(
            gain=self.channel_gain(decoded), f_max_hz=decoded.cpu_hz, energy_limit_j=self.energy_limit(decoded),
            task_cap=np.where(decoded.available, decoded.task_cap, 0.0), available=decoded.available,
            deadline_s=self.deadline_s, total_samples=self.samples_per_cycle, max_tau=self.max_local_iterations,
            model_bits=self.model_bits, sample_bits=self.sample_bits if self.sends_data else 0.0,
            cycles_per_sample=self.cycles_per_sample, kappa=self.kappa, p_max_w=self.tx_power_w,
            p_min_w=self.tx_power_w * 10 ** (-self.power_range_db / 10), total_bandwidth_hz=self.total_bandwidth_hz,
            f_min_hz=self.min_cpu_hz, noise_psd_w_per_hz=self.noise_psd_w_per_hz,
        )


class AllocationCore:
    """Batched env logic over a :class:`MELSimulator` of ``n_envs`` worlds; subclasses implement :meth:`decide`.

    ``action_blocks`` is the number of K-value blocks in an action (1: task shares only).
    """

    action_blocks: ClassVar[int] = 1

    def __init__(self, scenario: Scenario, n_envs: int = 1, device: str | torch.device = "cpu"):
        self.scenario = scenario
        self.sim = MELSimulator(scenario, n_envs=n_envs, device=device)
        self.n_envs = n_envs
        s, sim = scenario, self.sim
        self.problem = AllocationProblem(
            mode=s.mode, num_learners=s.num_learners, deadline_s=s.cycle_deadline_s,
            samples_per_cycle=s.samples_per_cycle, max_local_iterations=s.max_local_iterations,
            model_bits=sim.model_bits, sample_bits=sim.sample_bits, cycles_per_sample=s.compute.cycles_per_sample,
            kappa=s.compute.kappa, action_beta=s.action_beta, tx_power_w=float(dbm_to_watt(s.channel.tx_power_dbm)),
            power_range_db=s.channel.power_range_db, bandwidth_hz=s.channel.bandwidth_hz,
            min_cpu_hz=s.compute.min_cpu_hz, noise_psd_w_per_hz=float(dbm_to_watt(s.channel.noise_psd_dbm_per_hz)),
            energy_cap_j=s.energy.cycle_cap_j, action_blocks=self.action_blocks,
            codec=ObservationCodec(
                num_learners=s.num_learners, bandwidth_hz=s.channel.bandwidth_hz,
                max_cpu_hz=sim.world.max_cpu_hz, cell_radius_m=s.placement.max_distance_m,
                samples_per_cycle=s.samples_per_cycle,
                max_task_cap=max(s.samples_per_cycle, sim.trainer.num_train_samples),
                horizon_cycles=s.horizon_cycles, num_classes=sim.trainer.num_classes, action_beta=s.action_beta,
                battery_scale_j=s.energy.battery_max_j,
            ),
        )
        self.observation_space = self.problem.codec.space()
        self.action_space = spaces.Box(-1.0, 1.0, shape=(self.action_blocks * s.num_learners,), dtype=np.float32)
        self.previous_share = np.zeros((n_envs, s.num_learners))
        self.reference_tau = s.max_local_iterations / 4.0  # tau_ref of the log-capacity feature

    # ------------------------------------------------------------------------------------------------ obs
    def observe(self) -> np.ndarray:
        """(n_envs, obs size) float32 observation of the coming cycle."""
        st, sim = self.sim.world.state, self.sim
        capacity = relaxed_task_sizes(sim.coefficients(), self.scenario.cycle_deadline_s, self.reference_tau)
        return self.problem.codec.encode(
            rate_bps=sim.world.rate_bps(), cpu_hz=st.cpu_hz, capacity=capacity, battery_j=st.battery_j,
            position_m=st.position_m, previous_share=self.previous_share, task_cap=sim.task_caps, cycle=st.cycle,
            test_loss=sim.loss, test_accuracy=sim.accuracy,
        )

    # ------------------------------------------------------------------------------------------------ API
    def reset(self, seeds: Sequence[int | np.random.SeedSequence], env_ids: Sequence[int] | None = None) -> None:
        env_ids = list(range(self.n_envs)) if env_ids is None else list(env_ids)
        self.sim.reset(seeds, env_ids)
        self.previous_share[env_ids] = 0.0

    def decide(self, actions: np.ndarray) -> Decision:  # pragma: no cover - abstract
        """The Decision that validated ``actions`` (n_envs, action size) map to."""
        raise NotImplementedError

    def iteration_limits(self, task_sizes: np.ndarray, tx_power_w: np.ndarray | None = None,
                         bandwidth_hz: np.ndarray | None = None, cpu_hz: np.ndarray | None = None) -> np.ndarray:
        """(n_envs, K) the most local iterations each learner can run with these tasks and resources: within
        the deadline and, where there is one, the energy cap and the remaining battery (-1: not even the
        model exchange fits; ``max_local_iterations`` for learners without a task)."""
        s, sim, st = self.scenario, self.sim, self.sim.world.state
        coeffs = sim.coefficients(tx_power_w, bandwidth_hz, cpu_hz)
        energy: dict[str, np.ndarray] = {}
        limit = np.minimum(np.inf if s.energy.cycle_cap_j is None else s.energy.cycle_cap_j, st.battery_j)
        if np.any(np.isfinite(limit)):
            cpu = st.cpu_hz if cpu_hz is None else cpu_hz
            power = sim.world.default_tx_power_w if tx_power_w is None else tx_power_w
            energy = dict(
                energy_per_iteration=s.compute.kappa * cpu**2 * s.compute.cycles_per_sample * task_sizes,
                energy_fixed=power * np.minimum(coeffs.c0 / 2.0, s.cycle_deadline_s),  # upload S_m / R
                energy_limit=limit,
            )
        return max_iterations(coeffs, task_sizes, s.cycle_deadline_s, s.max_local_iterations, **energy)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One cycle in every env: (obs, reward, terminated, truncated, info), all batched over envs."""
        actions = validate_action(actions, (self.n_envs, self.action_space.shape[0]))
        decision = self.decide(actions)
        out = self.sim.step(decision)
        s, r = self.scenario, self.scenario.reward
        tau = self.reported_tau(decision)
        gain = out.loss_before - out.loss_after if r.metric == "loss" else out.accuracy_after - out.accuracy_before
        reward = (
            r.scale * gain
            + r.tau_bonus * tau / s.max_local_iterations
            - r.energy_penalty_per_j * out.energy_j.sum(axis=1)
            - r.straggler_penalty * (out.stragglers | out.over_cap).sum(axis=1)
        )
        self.previous_share = decision.task_sizes / s.samples_per_cycle
        reached = out.accuracy_after >= (s.target_accuracy if s.target_accuracy is not None else np.inf)
        terminated = reached & s.terminate_on_target
        truncated = (self.sim.world.state.cycle >= s.horizon_cycles) & ~terminated
        info = self._info(out, tau, reached)
        info.update(self.decision_info(decision))
        return self.observe(), reward, terminated, truncated, info

    def reported_tau(self, decision: Decision) -> np.ndarray:
        """(n_envs,) the tau of the info and the tau bonus: the common tau in synchronous MEL."""
        return decision.local_iterations.max(axis=1)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        """Env-specific info entries (batched)."""
        return {}

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
            "over_cap": out.over_cap,
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


def scalar_info(info: dict[str, np.ndarray], i: int = 0) -> dict[str, Any]:
    """Env ``i``'s slice of a batched info dict, with Python scalars for per-env values."""
    out = {}
    for key, value in info.items():
        item = value[i]
        out[key] = item.item() if np.ndim(item) == 0 else item
    return out


class MELEnv(gym.Env):
    """A single Gymnasium env over an :class:`AllocationCore` subclass (``core_class``).

    Subclasses set ``core_class`` and ``default_scenario`` and document their spaces.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 2}
    core_class: ClassVar[type[AllocationCore]]
    default_scenario: ClassVar[str] = "default"

    def __init__(self, scenario: Scenario | str | dict | None = None, *, device: str = "cpu",
                 render_mode: str | None = None, **overrides: Any):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not one of {self.metadata['render_modes']} or None")
        self.scenario = load_scenario(self.default_scenario if scenario is None else scenario, overrides)
        self.core = self.core_class(self.scenario, n_envs=1, device=device)
        self.problem = self.core.problem
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self.render_mode = render_mode
        self._needs_reset = True
        self._last_obs: np.ndarray | None = None
        self._last_tau: float | None = None

    @property
    def simulator(self) -> MELSimulator:
        return self.core.sim

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.core.reset([episode_seed(self.np_random)])
        self._needs_reset = False
        self._last_obs, self._last_tau = self.core.observe()[0], None
        return self._last_obs, scalar_info(self.core.reset_info())

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        action = validate_action(action, self.action_space.shape)  # raises before any state changes
        obs, reward, terminated, truncated, info = self.core.step(action[None])
        self._needs_reset = bool(terminated[0] or truncated[0])
        self._last_obs, self._last_tau = obs[0], info["tau"][0].item()
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), scalar_info(info)

    def render(self) -> str | np.ndarray | None:
        """``ansi``: a text table of the learners; ``rgb_array``: a map of the cell; None without a mode."""
        if self.render_mode is None or self._last_obs is None:
            return None
        decoded = self.problem.decode(self._last_obs)
        if self.render_mode == "ansi":
            return render_ansi(decoded, self._last_tau)
        return render_rgb(decoded, self._last_tau, self.scenario.placement.max_distance_m)
