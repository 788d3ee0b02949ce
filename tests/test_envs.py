"""What every env ID must do: pass both checkers, give finite JSON-ready infos, match its vector env, use one
cost model with its solvers, and never lose data silently."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from conftest import BATCH_ATOL
from mel_gym import ENV_IDS
from mel_gym.agents import make_policy, policies_for
from mel_gym.envs.action_maps import validate_action
from mel_gym.envs.core import ShareCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import vector_env_class
from mel_gym.optim.joint_resources import JointPlan, planned_costs
from mel_gym.simulation import Decision

SMALL = {"num_learners": 4, "samples_per_cycle": 400, "horizon_cycles": 4}


def small(env_id: str) -> dict:
    """SMALL for ``env_id`` (LearnerRelocation's preset moves 5 learners: 2 of the 4 here)."""
    return {**SMALL, "relocation": {"controllable": 2}} if "Relocation" in env_id else dict(SMALL)


def _json_ready(info: dict) -> str:
    """The info as strict JSON (no NaN/inf), as a logger would write it."""
    plain = {k: (v.tolist() if isinstance(v, np.ndarray) else v.item() if isinstance(v, np.generic) else v)
             for k, v in info.items()}
    return json.dumps(plain, allow_nan=False)


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_checkers_pass_and_the_spaces_are_documented(env_id):
    env = gym.make(env_id, **small(env_id))
    gym_check_env(env.unwrapped, skip_render_check=False)
    sb3_check_env(env)
    globals_ = 8 if env_id == "mel_gym/DroneOrchestrator-v0" else 3  # a drone adds its position, velocity, battery
    jobs = 3 * 3 * 4 + 3 * 3 if env_id == "mel_gym/MultiJob-v0" else 0  # 3 jobs: 3 blocks of K each, 3 globals each
    # SplitChain: memory (K), M = K - 1 = 3 neighbours with their rates (2 K M), 3 stages x 3 stage features
    topology = 4 + 2 * 4 * 3 + 3 * 3 if env_id == "mel_gym/SplitChain-v0" else 0
    # MultiHop: M = 3 neighbours with their rates (2 K M) and each learner's least route time (K)
    topology += 2 * 4 * 3 + 4 if env_id == "mel_gym/MultiHop-v0" else 0
    assert env.observation_space.shape == (14 * 4 + globals_ + jobs + topology,)
    noop = env.unwrapped.core.noop_action()
    assert env.action_space.contains(noop.astype(env.action_space.dtype))
    env.reset(seed=0)
    _, reward, _, _, info = env.step(noop)  # nobody takes part: no training, no cost
    assert not info["participants"].any() and info["energy_j"].sum() == 0 and info["samples_trained"] == 0


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_every_info_value_is_finite_and_json_serialisable(env_id):
    env = gym.make(env_id, **small(env_id), energy={"cycle_cap_j": 0.01, "battery_min_j": 0.02, "battery_max_j": 0.05})
    _, info = env.reset(seed=1)
    _json_ready(info)
    rng = np.random.default_rng(0)
    space = env.action_space
    extreme = [space.sample() for _ in range(3)]
    if isinstance(space, gym.spaces.Box):
        extreme += [space.high.copy(), space.low.copy(), np.zeros(space.shape, np.float32)]
        if space.shape[0] == 16:  # JointAllocation: a task but no bandwidth, minimum power and CPU
            extreme.append(np.concatenate([np.zeros(4), -np.ones(4), [1.0, 1.0, 1.0, -1.0], -np.ones(4)]).astype(np.float32))
    else:
        extreme += [np.ones(space.shape, np.int8), np.zeros(space.shape, np.int8)]
    for action in extreme + [space.sample() for _ in range(int(rng.integers(2, 4)))]:
        _, reward, terminated, truncated, info = env.step(action)
        assert np.isfinite(reward)
        text = _json_ready(info)
        for key, value in info.items():
            assert np.all(np.isfinite(np.asarray(value, dtype=np.float64))), (key, value)
        assert "Infinity" not in text and "NaN" not in text
        if terminated or truncated:
            env.reset()


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_same_seed_same_trajectory_and_sub_env_i_equals_the_single_env(env_id):
    space = gym.make(env_id, **small(env_id)).action_space
    space.seed(0)
    actions = [space.sample() for _ in range(4)]
    if isinstance(space, gym.spaces.Box):
        actions = [np.clip(a, -0.3, 0.3) for a in actions]  # mostly feasible splits: real training happens

    def rollout(seed):
        env = gym.make(env_id, **small(env_id))
        trace = [env.reset(seed=seed)[0]]
        for a in actions:
            obs, r, *_ = env.step(a)
            trace += [obs, np.array([r])]
        return trace

    assert all(np.array_equal(x, y) for x, y in zip(rollout(3), rollout(3)))
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **small(env_id))
    obs, _ = vec.reset(seed=2)
    single = gym.make(env_id, **small(env_id))
    assert np.allclose(obs[1], single.reset(seed=3)[0], atol=BATCH_ATOL)
    for act in actions:
        obs, reward, *_ = vec.step(np.stack([act, act]))
        s_obs, s_reward, *_ = single.step(act)
        assert np.allclose(obs[1], s_obs, atol=BATCH_ATOL) and reward[1] == pytest.approx(s_reward, abs=BATCH_ATOL)


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_an_env_pickles_mid_episode_and_goes_on_the_same(env_id):
    """Ray and multiprocessing ship envs between processes: a pickled copy continues exactly as the original."""
    import pickle

    env = gym.make(env_id, **small(env_id))
    env.reset(seed=6)
    env.step(env.action_space.sample())
    copy = pickle.loads(pickle.dumps(env))
    env.action_space.seed(1)
    action = env.action_space.sample()
    first, second = env.step(action), copy.step(action)
    assert np.array_equal(first[0], second[0]) and first[1] == second[1]


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_every_baseline_of_an_env_runs_in_it(env_id):
    env = gym.make(env_id, **small(env_id))
    problem = env.unwrapped.problem
    for name in policies_for(problem):
        policy = make_policy(name, problem, env.action_space)
        obs, _ = env.reset(seed=5)
        action, _ = policy.predict(obs)
        assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype)), name
        env.step(action)


def test_async_vector_env_after_the_parent_stepped_an_env():
    """gym.make_vec(..., "async") forks workers; a parent whose torch thread pool ran used to hang them."""
    code = (
        "import gymnasium as gym, numpy as np, mel_gym\n"
        "env = gym.make('mel_gym/TaskAllocation-v0', num_learners=4, samples_per_cycle=400)\n"
        "env.reset(seed=0)\n"
        "for _ in range(3): env.step(np.zeros(4, np.float32))\n"
        "venv = gym.make_vec('mel_gym/TaskAllocation-v0', num_envs=2, vectorization_mode='async', num_learners=4,\n"
        "                    samples_per_cycle=400)\n"
        "venv.reset(seed=0)\n"
        "obs, reward, *_ = venv.step(np.zeros((2, 4), np.float32))\n"
        "venv.close()\n"
        "print('stepped', obs.shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "stepped (2, 59)" in out.stdout


@pytest.mark.parametrize("mode", ["pl", "fl"])
def test_the_simulator_charges_what_the_solvers_assume(mode):
    """Random decisions (tasks, tau, powers, bandwidths, CPUs): the simulator's times and energies of learners that
    finish equal the cost model the solvers plan with (the joint solver's planned costs and the problem's
    coefficients, from the observation)."""
    env = gym.make("mel_gym/JointAllocation-v0", **SMALL, mode=mode, cycle_deadline_s=0.5)
    core = env.unwrapped.core
    rng = np.random.default_rng(7)
    compared = 0
    for trial in range(20):
        obs, _ = env.reset(seed=trial)
        problem, decoded = core.problem, core.problem.decode(obs)
        caps = core.sim.task_caps[0]
        d = np.minimum(np.floor(rng.dirichlet(np.ones(4)) * rng.integers(100, 400)).astype(int) + 1, caps)
        tau = int(rng.integers(1, 6))
        power = problem.tx_power_w * 10 ** (-rng.uniform(0, 3, 4))
        bandwidth = rng.dirichlet(np.ones(4)) * problem.total_bandwidth_hz
        cpu = rng.uniform(problem.min_cpu_hz, decoded.cpu_hz)
        plan = JointPlan(tau, d.astype(float), power, bandwidth, cpu)
        time_plan, energy_plan = planned_costs(problem.joint_instance(decoded), plan)
        coeffs = problem.coefficients(decoded, power, bandwidth, cpu)
        assert np.allclose(coeffs.time_s(tau, d), time_plan, rtol=1e-5)
        out = core.sim.step(Decision(d[None], np.full((1, 4), tau), tx_power_w=power[None],
                                     bandwidth_hz=bandwidth[None], cpu_hz=cpu[None]))
        ok = out.finished[0]
        compared += ok.sum()
        assert np.allclose(out.time_s[0, ok], time_plan[ok], rtol=1e-5)
        assert np.allclose(out.energy_j[0, ok], energy_plan[ok], rtol=1e-5)
        late = out.stragglers[0]
        assert np.all(time_plan[late] > problem.cycle_deadline_s) and np.all(out.time_s[0, late] <= 0.5 + 1e-9)
        assert np.all(out.energy_j[0, late] <= energy_plan[late] + 1e-12)  # a straggler pays at most its plan
    assert compared >= 20


def test_every_plan_processes_d_in_non_iid_fl():
    """FL with Dirichlet 0.1: a share above a learner's data goes to others; the processed amount is d."""
    env = gym.make("mel_gym/TaskAllocation-v0", mode="fl", learning={"partition": "dirichlet", "dirichlet_alpha": 0.1})
    env.reset(seed=0)
    d = env.unwrapped.scenario.samples_per_cycle
    caps = env.unwrapped.simulator.task_caps[0]
    rng = np.random.default_rng(0)
    for _ in range(10):
        _, _, _, _, info = env.step(rng.uniform(-0.9, 1.0, 10).astype(np.float32))
        assert info["task_sizes"].sum() == d and np.all(info["task_sizes"] <= caps)
    favour_smallest = np.full(10, -0.99, np.float32)
    favour_smallest[np.argmin(caps)] = 1.0  # almost all of d to the learner with the least data
    _, _, _, _, info = env.step(favour_smallest)
    assert info["task_sizes"][np.argmin(caps)] == caps.min() and info["task_sizes"].sum() == d


class _DictCore(ShareCore):
    """A toy core with a Dict action (task shares and who takes part), to check the generic machinery."""

    def build_action_space(self):
        K = self.scenario.num_learners
        return gym.spaces.Dict({"shares": gym.spaces.Box(-1, 1, (K,), np.float32), "take_part": gym.spaces.MultiBinary(K)})

    def validate(self, actions):
        if not np.all(np.isin(actions["take_part"], (0, 1))):
            raise ValueError("take_part must hold 0 or 1")
        return {"shares": validate_action(actions["shares"], actions["shares"].shape),
                "take_part": actions["take_part"].astype(bool)}

    def raw_noop_action(self):
        K = self.scenario.num_learners
        return {"shares": np.zeros(K, np.float32), "take_part": np.zeros(K, np.int8)}

    def decide(self, actions, samples):
        task_sizes = self.task_sizes(np.where(actions["take_part"], actions["shares"], -1.0), samples)
        tau = np.maximum(self.iteration_limits(task_sizes).min(axis=1), 0)
        return Decision(task_sizes=task_sizes, local_iterations=np.where(task_sizes > 0, tau[:, None], 0))


class _DictEnv(MELEnv):
    core_class = _DictCore


def test_a_core_with_a_dict_action_runs_in_the_single_and_the_vector_env():
    env = _DictEnv(**SMALL)
    gym_check_env(env, skip_render_check=True)
    env.reset(seed=0)
    _, _, _, _, info = env.step({"shares": np.zeros(4, np.float32), "take_part": np.array([1, 1, 0, 1], np.int8)})
    assert info["task_sizes"][2] == 0 and info["task_sizes"].sum() == SMALL["samples_per_cycle"]
    with pytest.raises(ValueError, match=r"action must be a dict with the keys \['shares', 'take_part'\]"):
        env.step(np.zeros(4))
    with pytest.raises(ValueError, match=r"action\['shares'\] has shape \(3,\), expected \(4,\)"):
        env.step({"shares": np.zeros(3), "take_part": np.ones(4)})
    vec = vector_env_class(_DictEnv)(num_envs=2, **SMALL)
    vec.reset(seed=0)
    batch = {"shares": np.zeros((2, 4), np.float32), "take_part": np.ones((2, 4), np.int8)}
    for _ in range(SMALL["horizon_cycles"] + 1):  # through an autoreset: the ended sub-env takes the no-op action
        obs, reward, terminated, truncated, info = vec.step(batch)
    assert obs.shape == (2, 14 * 4 + 3) and np.all(reward == 0) and not truncated.any()  # the reset step
