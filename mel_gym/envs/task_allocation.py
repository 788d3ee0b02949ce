"""TaskAllocation-v0: choose every learner's task size in synchronous MEL."""

from __future__ import annotations

import numpy as np

from mel_gym.envs.action_blocks import ActionBlock, Send, SendMode, Shares
from mel_gym.envs.core import ShareCore
from mel_gym.envs.env import MELEnv
from mel_gym.envs.vector import vector_env_class
from mel_gym.simulation import Decision


class TaskAllocationCore(ShareCore):
    """Task shares -> integer task sizes -> the largest common tau every participant can run; with the scenario's
    ``redistribution``, first a phase in which learners exchange samples (docs/redistribution.md)."""

    supports_redistribution = True

    @property
    def active_planner(self) -> str:
        """The env parameter ``planner``, else ``min-cost-transport-fraction`` with a redistribution phase (so that
        planner-level actions redistribute too), else ``ha-sync-fraction``."""
        if self.params.planner is None and self.scenario.redistribution.enabled:
            return "min-cost-transport-fraction"
        return super().active_planner

    def action_blocks(self) -> tuple[ActionBlock, ...]:
        return (Shares(), Send(), SendMode()) if self.scenario.redistribution.enabled else self.blocks

    def decide(self, actions: np.ndarray, samples: np.ndarray) -> Decision:
        layout = self.layout
        if self.scenario.redistribution.enabled:
            self._phase = self.redistribution_phase(layout.block("send").decode(actions[:, layout.slice_of("send")],
                                                                                self.problem, None),
                                                    layout.block("send_mode").decode(
                                                        actions[:, layout.slice_of("send_mode")], self.problem, None))
            self.phase_energy_j = self._phase["redistribution_energy_j"].sum(axis=1)
        return self.sync_decision(actions[:, layout.slice_of("shares")], samples)

    def redistribution_phase(self, fraction: np.ndarray, pooled: np.ndarray) -> dict[str, np.ndarray]:
        """Run the phase where it is due (every cycle, or before the first): learner k may send the ``fraction``
        (n_envs, K) of its cap, into the shared pool where ``pooled``; the task caps the shares then meet are the
        pools after it."""
        s, sim = self.scenario, self.sim
        r = s.redistribution
        due = np.ones(self.n_envs, dtype=bool) if r.schedule == "cycle" else sim.world.state.cycle == 0
        allowed = np.floor(fraction * r.cap_fraction * sim.pool_size + 1e-9)
        return sim.redistribute(np.where(sim.world.can_work, allowed, 0.0), pooled, due)

    def decision_info(self, decision: Decision) -> dict[str, np.ndarray]:
        return dict(self._phase) if self.scenario.redistribution.enabled else {}


class TaskAllocationEnv(MELEnv):
    """Synchronous MEL task allocation: each global cycle, split d samples among K learners.

    A global cycle of T seconds: the orchestrator sends the model (and, in PL, d_k fresh samples) to every
    learner that gets a task, each runs tau local iterations of gradient descent on its d_k samples, returns
    its model, and the orchestrator averages them weighted by d_k. The agent picks the split; tau is then the
    largest integer (up to ``max_local_iterations``) for which every learner with d_k > 0 meets T.

    ## Action space

    ``Box(-1, 1, (K,), float32)``: a_k -> weight exp(beta * a_k) (beta = ``action_beta``, 3), 0 when
    a_k = -1 or the learner's battery is empty; shares = weights / sum; d_k = shares x d rounded to integers
    summing to d (largest remainders). In FL a learner cannot take more than its local data: the surplus
    goes to the other chosen learners, then to the others with room, so every plan processes d whenever the
    learners hold it. a = 0 is equal allocation. tau is also held to the energy a learner may spend (the
    per-cycle cap and its battery), when there are such limits. Out-of-range values are clipped to [-1, 1];
    NaN/inf or a wrong shape raise ``ValueError`` and leave the env as it was.

    ## Redistribution

    With the scenario's ``redistribution`` section (FL, D2D links; docs/redistribution.md) the action is
    ``Box(-1, 1, (3K,))``: the shares, then per learner its send value (the fraction (a + 1) / 2 of its cap,
    ``redistribution.cap_fraction`` of its samples, it may send) and its mode (< 0: the shared pool, equally to its
    neighbours; else the orchestrator's min-imbalance transport plan). The phase runs before the first cycle (or every
    cycle) within ``redistribution.budget_s`` of sending time per learner; its energy counts in the reward's energy
    penalty. The observation adds each learner's label histogram (K x C after the globals) and the info
    ``redistribution_sent``, ``redistribution_received``, ``redistribution_s``, ``redistribution_energy_j``,
    ``label_emd``.

    ## Amount and planner actions

    With ``amount_action=True`` the action ends with the amount (one more value, ``Box(-1, 1, (K + 1,))``): the plan
    hands out n = max(1, round(f d)) of the cycle's d samples, f = min_fraction + (1 - min_fraction)(a + 1) / 2
    (docs/envs.md); the info adds ``sample_fraction``, and ``samples_planned`` / ``samples_processed`` per learner
    come always. ``action_mode="planner"``: the action is ``Box(-1, 1, (1,))``, the knobs of the planner
    ``ha-sync-fraction`` (the fraction f), which plans the full action from the observation.

    ## Observation space

    ``Box(float32, (14K + 3,))``, per-learner blocks of K values then 3 globals:

    | index        | feature                                   | raw unit   |
    |--------------|-------------------------------------------|------------|
    | 0 .. K-1     | uplink spectral efficiency R_k^up / W / 10 (coming cycle, as the orchestrator plans it) | bit/s/Hz |
    | K .. 2K-1    | downlink spectral efficiency R_k^down / W / 10 | bit/s/Hz |
    | 2K .. 3K-1   | CPU frequency as last reported / scenario's max | Hz    |
    | 3K .. 4K-1   | log capacity ln(c_k / (d/K)) / beta in [-2, 2], c_k = (T - C0_k) / (C2_k tau_ref + C1_k), tau_ref = max_local_iterations / 4 | samples |
    | 4K .. 5K-1   | battery / the scenario's largest capacity (1 without batteries) | J |
    | 5K .. 6K-1   | x position / area radius                  | m          |
    | 6K .. 7K-1   | y position / area radius                  | m          |
    | 7K .. 8K-1   | previous task share d_k / d               | samples    |
    | 8K .. 9K-1   | task cap / d (1 in PL, local data in FL)  | samples    |
    | 9K .. 11K-1  | x and y velocity / the scenario's top speed | m/s      |
    | 11K .. 12K-1 | in coverage (1) or not (0)                |            |
    | 12K .. 13K-1 | predicted probability that the link fails in the coming cycle |  |
    | 13K .. 14K-1 | predicted probability that the CPU share drops in the coming cycle | |
    | 14K          | cycles run / horizon                      |            |
    | 14K + 1      | last validation loss / ln(classes), clipped at 10 | nats |
    | 14K + 2      | last validation accuracy                  |            |

    The log capacity is derived from the rate and CPU blocks (the quantity HA-Sync optimises over, see
    ``mel_gym/envs/observation.py``). ``env.unwrapped.problem.decode(obs)`` turns an observation back into
    named arrays with units.

    ## Reward

    ``scale x gain + tau_bonus x sum_k(d_k tau_k, learners that finished) / (d max_local_iterations) -
    energy_penalty_per_j x energy - straggler_penalty x (stragglers + learners over the energy cap)``, gain =
    validation-loss decrease (``reward.metric: loss``, default; losses bounded at 10 ln(classes)) or validation-accuracy
    increase (``accuracy``) of the global model over the cycle, measured by really training it. The parts
    are in the info (``reward_lql``, ``reward_tau_bonus``, ``reward_energy_penalty``,
    ``reward_straggler_penalty``).

    ## Episode

    Starts with a fresh world (positions, shadowing, CPUs, batteries) and a fresh model. Truncated after
    ``horizon_cycles`` cycles; terminated when ``terminate_on_target`` is set and the validation accuracy reaches
    the scenario's ``target_accuracy``.

    ## Info

    ``tau``, ``task_sizes``, ``samples_trained``, per-learner ``time_s`` spent (at most T; and its send /
    compute / return parts), ``energy_j``, ``participants``, ``stragglers`` (missed T), ``over_cap`` (hit the
    energy cap), ``depleted`` (battery ran out), ``diverged`` (non-finite local model), ``model_diverged``
    (the global validation loss reached its bound), ``test_accuracy``, ``test_loss`` (the test split: reported,
    never used to decide), ``val_accuracy``, ``val_loss`` (the validation split the reward and observation use), ``cycle``, the reward parts,
    and ``is_success`` when a target accuracy is set.

    ## Arguments

    ``scenario``: preset name, YAML path, dict or Scenario (the world and the job); ``device``: trainer device
    ("cpu", "cuda", "auto"); keyword arguments override scenario keys (nested sections as dicts) or set the
    env's parameters (:class:`mel_gym.envs.params.ShareParams`: ``horizon_cycles``, ``terminate_on_target``,
    ``action_beta``, ``reward``), e.g. ``gym.make("mel_gym/TaskAllocation-v0", mode="fl",
    reward={"metric": "accuracy"})``. Anything else is a ``TypeError``.
    """

    core_class = TaskAllocationCore


TaskAllocationVectorEnv = vector_env_class(TaskAllocationEnv)
