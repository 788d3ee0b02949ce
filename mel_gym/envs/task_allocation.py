"""TaskAllocation-v0: choose every learner's task size in synchronous MEL."""

from __future__ import annotations

import numpy as np

from mel_gym.envs.action_maps import task_sizes_from_action
from mel_gym.envs.core import AllocationCore, AllocationProblem, MELEnv
from mel_gym.sim import Decision

#: The problem constants of every allocation env (the name of the first issue's API).
TaskAllocationProblem = AllocationProblem


class TaskAllocationCore(AllocationCore):
    """Task shares -> integer task sizes -> the largest common tau every participant can run."""

    def decide(self, actions: np.ndarray) -> Decision:
        s = self.scenario
        task_sizes = task_sizes_from_action(
            actions, self.sim.world.state.alive, s.action_beta, s.samples_per_cycle, self.sim.task_caps
        )
        tau = np.maximum(self.iteration_limits(task_sizes).min(axis=1), 0)
        return Decision(task_sizes=task_sizes, local_iterations=np.where(task_sizes > 0, tau[:, None], 0))


class TaskAllocationEnv(MELEnv):
    """Synchronous MEL task allocation: each global cycle, split d samples among K learners.

    A global cycle of T seconds: the orchestrator sends the model (and, in PL, d_k fresh samples) to every
    learner that gets a task, each runs tau local iterations of gradient descent on its d_k samples, returns
    its model, and the orchestrator averages them weighted by d_k. The agent picks the split; tau is then the
    largest integer (up to ``max_local_iterations``) for which every learner with d_k > 0 meets T.

    ## Action space

    ``Box(-1, 1, (K,), float32)``: a_k -> weight exp(beta * a_k) (beta = ``action_beta``, 3), 0 when
    a_k = -1 or the learner's battery is empty; shares = weights / sum; d_k = shares x d rounded to integers
    summing to d (largest remainders), capped at the learner's task cap (FL). a = 0 is equal allocation.
    tau is also held to the energy a learner may spend (the per-cycle cap and its battery), when there are
    such limits. Out-of-range values are clipped to [-1, 1]; NaN/inf or a wrong shape raise ``ValueError``
    and leave the env as it was.

    ## Observation space

    ``Box(float32, (8K + 3,))``, per-learner blocks of K values then 3 globals:

    | index        | feature                                   | raw unit   |
    |--------------|-------------------------------------------|------------|
    | 0 .. K-1     | spectral efficiency R_k / W / 10 (coming cycle) | bit/s/Hz |
    | K .. 2K-1    | CPU frequency / scenario's max            | Hz         |
    | 2K .. 3K-1   | log capacity ln(c_k / (d/K)) / beta in [-2, 2], c_k = (T - C0_k) / (C2_k tau_ref + C1_k), tau_ref = max_local_iterations / 4 | samples |
    | 3K .. 4K-1   | battery / the scenario's largest capacity (1 without batteries) | J |
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
    ``participants``, ``stragglers`` (missed T), ``over_cap`` (hit the energy cap), ``depleted`` (battery ran
    out), ``diverged``,
    ``test_accuracy``, ``test_loss``, ``cycle``, and ``is_success`` when a target accuracy is set.

    ## Arguments

    ``scenario``: preset name ("default", "paper"), YAML path, dict or Scenario; ``device``: trainer device
    ("cpu", "cuda", "auto"); any other keyword overrides that scenario key (nested sections as dicts), e.g.
    ``gym.make("mel_gym/TaskAllocation-v0", mode="fl", reward={"metric": "accuracy"})``.
    """

    core_class = TaskAllocationCore
