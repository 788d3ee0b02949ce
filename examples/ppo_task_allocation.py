"""PPO on mel_gym/TaskAllocation-v0 in one file, compared with HA-Sync and equal allocation.

Read it top to bottom: the arguments, the vector env, a small actor-critic, the PPO loop (rollout, GAE, clipped
update), then an evaluation of the trained policy and two baselines on the same held-out seeds.

Each env step is one global cycle of Mobile Edge Learning: the action gives every one of the K learners a task
share in [-1, 1] (a = 0 for all is equal allocation, a = -1 drops a learner), the env runs the cycle with the
largest number of local iterations tau that every chosen learner can finish before the deadline, really trains
the model, and rewards the decrease of its validation loss plus a small bonus for finished work. HA-Sync solves that
allocation exactly from the observation, so in this static world it is the reference a learned policy can at best
match; equal allocation is the floor.

    python examples/ppo_task_allocation.py                       # 20,000 env steps, a small world of 4 learners
    python examples/ppo_task_allocation.py --num-learners 10 --total-timesteps 50000

Everything runs on the CPU; the embedded FL trainer and the networks are tiny, so one torch thread is fastest.
With Gymnasium >= 1.0 the vector env is mel_gym's native one (one batched simulator); with Gymnasium 0.29 (CleanRL's
pin) it is Gymnasium's SyncVectorEnv over single envs.
"""

from __future__ import annotations

import argparse
import random
import time

import gymnasium as gym
import numpy as np
import torch
try:  # Gymnasium >= 1.0
    from gymnasium.vector import AutoresetMode
except ImportError:  # Gymnasium 0.29 (CleanRL's pin): no autoreset modes, see make_env
    AutoresetMode = None
from torch import nn
from torch.distributions import Normal

import mel_gym  # noqa: F401 - registers the mel_gym/... env IDs
from mel_gym.agents import make_policy

ENV_ID = "mel_gym/TaskAllocation-v0"
EVAL_SEED = 10_000  # held-out seeds: evaluation episode i is played on seed EVAL_SEED + i


# --------------------------------------------------------------------------------------------------------------
# 1. Arguments
# --------------------------------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # the experiment
    p.add_argument("--total-timesteps", type=int, default=20_000, help="env steps of training (default: %(default)s)")
    p.add_argument("--num-envs", type=int, default=4, help="sub-envs of the vector env (default: %(default)s)")
    p.add_argument("--num-steps", type=int, default=128,
                   help="steps per sub-env per rollout; a rollout is num-envs x num-steps (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of torch, numpy and the training envs (default: %(default)s)")
    p.add_argument("--eval-episodes", type=int, default=8,
                   help=f"evaluation episodes per policy, on the held-out seeds {EVAL_SEED}, {EVAL_SEED + 1}, ... "
                        "(default: %(default)s)")
    p.add_argument("--torch-threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    # the world (scenario overrides and env parameters, passed straight to gym.make_vec)
    p.add_argument("--num-learners", type=int, default=4, help="learners K (default: %(default)s)")
    p.add_argument("--samples-per-cycle", type=int, default=400,
                   help="samples d split per cycle (default: %(default)s)")
    p.add_argument("--max-local-iterations", type=int, default=20, help="the largest tau (default: %(default)s)")
    p.add_argument("--horizon-cycles", type=int, default=5, help="global cycles per episode (default: %(default)s)")
    # PPO
    p.add_argument("--learning-rate", type=float, default=5e-4, help="Adam step size (default: %(default)s)")
    p.add_argument("--gamma", type=float, default=0.9,
                   help="discount; the reward is a per-cycle gain, so a short horizon suffices (default: %(default)s)")
    p.add_argument("--gae-lambda", type=float, default=0.95, help="GAE lambda (default: %(default)s)")
    p.add_argument("--update-epochs", type=int, default=10, help="passes over each rollout (default: %(default)s)")
    p.add_argument("--num-minibatches", type=int, default=8, help="minibatches per pass (default: %(default)s)")
    p.add_argument("--clip-coef", type=float, default=0.2, help="PPO ratio clip (default: %(default)s)")
    p.add_argument("--vf-coef", type=float, default=0.5, help="value-loss weight (default: %(default)s)")
    p.add_argument("--ent-coef", type=float, default=0.0, help="entropy bonus weight (default: %(default)s)")
    p.add_argument("--max-grad-norm", type=float, default=0.5, help="gradient clip (default: %(default)s)")
    p.add_argument("--log-std-init", type=float, default=-1.5,
                   help="initial log std of the Gaussian policy; small, because tau collapses as soon as one "
                        "learner is overloaded, so wide exploration mostly sees bad cycles (default: %(default)s)")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------------------------
# 2. The vector env
# --------------------------------------------------------------------------------------------------------------
def make_env(args: argparse.Namespace, num_envs: int) -> gym.vector.VectorEnv:
    """The native vector env: ``num_envs`` worlds stepped as one batched simulator (one trainer call per step); on
    Gymnasium 0.29, which lacks the 1.x vector API, Gymnasium's SyncVectorEnv over single envs.

    Autoreset: we pick SAME_STEP. A sub-env whose episode ends is reset inside that same step, so the observation
    returned is already the first one of its next episode, and every step we store is a real transition with a
    real reward. (With Gymnasium's default, NEXT_STEP, the step after an episode end is a dummy: action ignored,
    reward 0, and the loop would have to mask it out of the rollout.)
    We never need ``info["final_obs"]``: the observation holds "cycles run / horizon", so reaching the horizon is
    a true end of the episode in this (time-aware) state, and truncation, like termination, gets no bootstrap.
    """
    kwargs = dict(num_learners=args.num_learners, samples_per_cycle=args.samples_per_cycle,
                  max_local_iterations=args.max_local_iterations, horizon_cycles=args.horizon_cycles)
    if AutoresetMode is None:  # Gymnasium 0.29: single envs in its SyncVectorEnv, which also resets in the same step
        return gym.vector.SyncVectorEnv([lambda: gym.make(ENV_ID, **kwargs) for _ in range(num_envs)])
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)


# --------------------------------------------------------------------------------------------------------------
# 3. A small actor-critic
# --------------------------------------------------------------------------------------------------------------
def layer(n_in: int, n_out: int, gain: float = np.sqrt(2)) -> nn.Linear:
    """A linear layer with orthogonal weights and zero bias (the usual PPO initialisation)."""
    lin = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(lin.weight, gain)
    nn.init.zeros_(lin.bias)
    return lin


class ActorCritic(nn.Module):
    """Separate tanh MLPs for the value and the action mean; a Gaussian policy with a learned, state-independent
    log std. The actor's last layer starts near zero, so the untrained policy is close to equal allocation."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64, log_std_init: float = -1.5):
        super().__init__()
        self.critic = nn.Sequential(layer(obs_dim, hidden), nn.Tanh(), layer(hidden, hidden), nn.Tanh(),
                                    layer(hidden, 1, gain=1.0))
        self.actor_mean = nn.Sequential(layer(obs_dim, hidden), nn.Tanh(), layer(hidden, hidden), nn.Tanh(),
                                        layer(hidden, act_dim, gain=0.01))
        self.log_std = nn.Parameter(torch.full((act_dim,), log_std_init))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def dist(self, obs: torch.Tensor) -> Normal:
        mean = self.actor_mean(obs)
        return Normal(mean, self.log_std.exp().expand_as(mean))

    def act(self, obs: torch.Tensor):
        """Sample an action: (action, its log-probability, the state value)."""
        d = self.dist(obs)
        action = d.sample()
        return action, d.log_prob(action).sum(-1), self.value(obs)

    def evaluate(self, obs: torch.Tensor, action: torch.Tensor):
        """For the update: (log-probability of ``action``, entropy, state value) under the current parameters."""
        d = self.dist(obs)
        return d.log_prob(action).sum(-1), d.entropy().sum(-1), self.value(obs)


# --------------------------------------------------------------------------------------------------------------
# 4. Evaluation on held-out seeds (the same episodes for every policy)
# --------------------------------------------------------------------------------------------------------------
def evaluate(args: argparse.Namespace, policies: dict) -> dict[str, np.ndarray]:
    """The return of each policy (obs batch -> action batch) over episodes on seeds EVAL_SEED, EVAL_SEED + 1, ...
    One vector env with one sub-env per episode; each sub-env counts only its first episode."""
    returns = {}
    for name, policy in policies.items():
        env = make_env(args, args.eval_episodes)
        obs, _ = env.reset(seed=EVAL_SEED)  # sub-env i gets seed EVAL_SEED + i
        total = np.zeros(args.eval_episodes)
        running = np.ones(args.eval_episodes, dtype=bool)
        while running.any():
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += reward * running
            running &= ~(terminated | truncated)
        env.close()
        returns[name] = total
    return returns


# --------------------------------------------------------------------------------------------------------------
# 5. Training, then the comparison
# --------------------------------------------------------------------------------------------------------------
def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    envs = make_env(args, args.num_envs)
    obs_dim = envs.single_observation_space.shape[0]  # 14K + 3
    act_dim = envs.single_action_space.shape[0]  # K
    agent = ActorCritic(obs_dim, act_dim, log_std_init=args.log_std_init)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    initial_params = nn.utils.parameters_to_vector(agent.parameters()).detach().clone()

    T, N = args.num_steps, args.num_envs
    batch_size = T * N
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = max(1, args.total_timesteps // batch_size)

    # Rollout storage: entry [t, i] is the transition of sub-env i at step t of the rollout.
    obs_buf = torch.zeros((T, N, obs_dim))
    act_buf = torch.zeros((T, N, act_dim))
    logp_buf = torch.zeros((T, N))
    rew_buf = torch.zeros((T, N))
    done_buf = torch.zeros((T, N))  # 1 where transition t ended its episode (terminated or truncated)
    val_buf = torch.zeros((T, N))

    next_obs = torch.as_tensor(envs.reset(seed=args.seed)[0])
    episode_return = np.zeros(N)  # running return of each sub-env's current episode
    train_returns: list[float] = []  # returns of every finished training episode
    global_step = 0
    start = time.time()

    for iteration in range(1, num_iterations + 1):
        # ---- collect a rollout with the current policy ----
        finished: list[float] = []
        for t in range(T):
            obs_buf[t] = next_obs
            with torch.no_grad():
                action, logp, value = agent.act(next_obs)
            act_buf[t], logp_buf[t], val_buf[t] = action, logp, value
            # The env clips to [-1, 1] anyway; we clip here so that what we send is explicit. The stored action
            # stays the unclipped Gaussian sample, whose log-probability the update needs.
            obs, reward, terminated, truncated, _ = envs.step(np.clip(action.numpy(), -1.0, 1.0))
            done = terminated | truncated
            rew_buf[t] = torch.as_tensor(reward, dtype=torch.float32)
            done_buf[t] = torch.as_tensor(done, dtype=torch.float32)
            next_obs = torch.as_tensor(obs)  # for a sub-env that just ended: the first obs of its next episode
            global_step += N

            episode_return += reward
            finished += episode_return[done].tolist()
            episode_return[done] = 0.0
        train_returns += finished

        # ---- advantages by GAE(lambda), computed backwards through the rollout ----
        # delta_t = r_t + gamma V(s_{t+1}) (1 - done_t) - V(s_t);  A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}.
        # done_t cuts both the bootstrap and the recursion where an episode ended at step t.
        with torch.no_grad():
            next_value = agent.value(next_obs)
        advantages = torch.zeros((T, N))
        last = torch.zeros(N)
        for t in reversed(range(T)):
            not_done = 1.0 - done_buf[t]
            value_after = next_value if t == T - 1 else val_buf[t + 1]
            delta = rew_buf[t] + args.gamma * value_after * not_done - val_buf[t]
            last = delta + args.gamma * args.gae_lambda * not_done * last
            advantages[t] = last
        returns = advantages + val_buf  # the value targets

        # ---- PPO update: several epochs of shuffled minibatches ----
        b_obs, b_act = obs_buf.reshape(batch_size, obs_dim), act_buf.reshape(batch_size, act_dim)
        b_logp, b_adv, b_ret = logp_buf.reshape(-1), advantages.reshape(-1), returns.reshape(-1)
        clip_fractions = []
        for _ in range(args.update_epochs):
            for idx in torch.randperm(batch_size).split(minibatch_size):
                new_logp, entropy, new_value = agent.evaluate(b_obs[idx], b_act[idx])
                ratio = (new_logp - b_logp[idx]).exp()
                adv = b_adv[idx]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                # clipped surrogate: the pessimistic of the plain and the clipped ratio times the advantage
                policy_loss = -torch.min(ratio * adv,
                                         ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef) * adv).mean()
                value_loss = 0.5 * (new_value - b_ret[idx]).pow(2).mean()
                loss = policy_loss + args.vf_coef * value_loss - args.ent_coef * entropy.mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
                clip_fractions.append(((ratio - 1).abs() > args.clip_coef).float().mean().item())

        # ---- progress ----
        mean_ret = f"{np.mean(finished):7.3f}" if finished else "    n/a"
        sps = int(global_step / (time.time() - start))
        print(f"iter {iteration:3d}/{num_iterations}  step {global_step:6d}  episodes {len(finished):3d}  "
              f"mean return {mean_ret}  value loss {value_loss.item():.4f}  clip frac {np.mean(clip_fractions):.3f}  "
              f"std {agent.log_std.exp().mean().item():.3f}  SPS {sps}", flush=True)
    envs.close()
    train_time = time.time() - start

    # ---- the comparison: the trained policy (its mean action) and two baselines, same held-out seeds ----
    problem_env = gym.make(ENV_ID, num_learners=args.num_learners, samples_per_cycle=args.samples_per_cycle,
                           max_local_iterations=args.max_local_iterations, horizon_cycles=args.horizon_cycles)
    problem, action_space = problem_env.unwrapped.problem, problem_env.action_space
    ha_sync = make_policy("ha-sync", problem, action_space)
    equal = make_policy("equal", problem, action_space)
    problem_env.close()

    def ppo_policy(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            mean = agent.actor_mean(torch.as_tensor(obs))
        return np.clip(mean.numpy(), -1.0, 1.0)

    start_eval = time.time()
    results = evaluate(args, {
        "ppo": ppo_policy,
        "ha-sync": lambda obs: ha_sync.predict(obs, deterministic=True)[0],
        "equal": lambda obs: equal.predict(obs, deterministic=True)[0],
    })
    eval_time = time.time() - start_eval

    print(f"\n{args.eval_episodes} held-out episodes (seeds {EVAL_SEED}..{EVAL_SEED + args.eval_episodes - 1}), "
          f"K={args.num_learners}, {args.horizon_cycles} cycles each; "
          f"trained {global_step} steps in {train_time:.0f} s, evaluated in {eval_time:.0f} s\n")
    print("| policy  | return (mean ± std) |")
    print("|---------|---------------------|")
    for name, r in results.items():
        print(f"| {name:7s} | {f'{r.mean():.3f} ± {r.std():.3f}':>19s} |")

    final_params = nn.utils.parameters_to_vector(agent.parameters()).detach()
    return {
        "returns": {name: r.tolist() for name, r in results.items()},
        "mean": {name: float(r.mean()) for name, r in results.items()},
        "std": {name: float(r.std()) for name, r in results.items()},
        "train_episode_returns": train_returns,
        "global_step": global_step,
        "train_time_s": train_time,
        "eval_time_s": eval_time,
        "param_change": float((final_params - initial_params).abs().max()),  # largest change of any parameter
        "agent": agent,  # the trained ActorCritic, e.g. to save with torch.save(agent.state_dict(), path)
    }


if __name__ == "__main__":
    main()
