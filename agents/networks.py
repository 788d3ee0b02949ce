"""A per-learner (permutation-equivariant) actor-critic policy for SB3's PPO and A2C.

The task-allocation observation is K blocks of per-learner features plus a few globals, and the action is
one value per learner. A plain MLP over the flat vector has to learn the same per-learner rule K times;
here one small network reads each learner's features (with the globals and the mean over learners as
context) and one shared head turns it into that learner's action mean, so every cycle gives K examples of
the same rule. The critic reads the pooled learner embedding and the globals.

Shapes: obs (B, F*K + G) -> per-learner input (B, K, F + G) -> embedding (B, K, H) -> pooled (B, H);
actor latent (B, K*H) -> action mean (B, A*K); critic latent (B, H). An action with ``global_actions`` values
after the A blocks of K (a drone's velocity) adds a pooled actor latent (B, H) and a head for them.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers)


class PerLearnerExtractor(nn.Module):
    """The shared learner encoder plus the pooled context; SB3's ``mlp_extractor`` interface."""

    def __init__(self, num_learners: int, num_features: int, num_globals: int, hidden: int,
                 activation: type[nn.Module], global_actions: int = 0, extra_features: int = 0):
        super().__init__()
        self.num_learners, self.num_features, self.num_globals = num_learners, num_features, num_globals
        self.extra_features = extra_features
        self.encoder = _mlp([num_features + extra_features + num_globals, hidden, hidden], activation)
        self.actor = _mlp([2 * hidden, hidden], activation)
        self.critic = _mlp([hidden + num_globals, hidden, hidden], activation)
        self.global_actor = _mlp([hidden + num_globals, hidden, hidden], activation) if global_actions else None
        self.latent_dim_pi = num_learners * hidden + (hidden if global_actions else 0)
        self.latent_dim_vf = hidden

    def _embed(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        K, F, G, E = self.num_learners, self.num_features, self.num_globals, self.extra_features
        per_learner = obs[:, : F * K].reshape(-1, F, K).transpose(1, 2)  # (B, K, F)
        globals_ = obs[:, F * K : F * K + G]  # (B, G)
        if E:  # learner-major features after the globals (the label histograms): (B, K, E)
            per_learner = torch.cat([per_learner, obs[:, F * K + G :].reshape(-1, K, E)], dim=-1)
        x = torch.cat([per_learner, globals_.unsqueeze(1).expand(-1, K, -1)], dim=-1)
        emb = self.encoder(x)  # (B, K, H)
        return emb, emb.mean(dim=1), globals_

    def forward_actor(self, obs: torch.Tensor) -> torch.Tensor:
        emb, pooled, globals_ = self._embed(obs)
        latent = self.actor(torch.cat([emb, pooled.unsqueeze(1).expand_as(emb)], dim=-1)).flatten(1)  # (B, K*H)
        if self.global_actor is None:
            return latent
        return torch.cat([latent, self.global_actor(torch.cat([pooled, globals_], dim=-1))], dim=-1)

    def forward_critic(self, obs: torch.Tensor) -> torch.Tensor:
        _, pooled, globals_ = self._embed(obs)
        return self.critic(torch.cat([pooled, globals_], dim=-1))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(obs), self.forward_critic(obs)


class PerLearnerHead(nn.Module):
    """Shared Linear(H, A) applied to each learner's latent: (B, K*H) -> (B, A*K), block-major (all learners'
    first action value, then all learners' second, ...), as the envs lay out their actions; with
    ``global_actions`` G, a Linear(H, G) on the pooled latent after them appends G values."""

    def __init__(self, hidden: int, blocks: int = 1, global_actions: int = 0):
        super().__init__()
        self.hidden = hidden
        self.linear = nn.Linear(hidden, blocks)
        self.global_linear = nn.Linear(hidden, global_actions) if global_actions else None

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        batch = latent.shape[0]
        per_learner = latent[:, : latent.shape[1] - (self.hidden if self.global_linear is not None else 0)]
        out = self.linear(per_learner.reshape(batch, -1, self.hidden))  # (B, K, A)
        out = out.transpose(1, 2).reshape(batch, -1)
        if self.global_linear is None:
            return out
        return torch.cat([out, self.global_linear(latent[:, -self.hidden :])], dim=-1)


class PerLearnerPolicy(ActorCriticPolicy):
    """Actor-critic with weights shared across learners (see the module docstring).

    Extra ``policy_kwargs``: ``num_learners`` (K), ``num_features`` (F per learner), ``num_globals`` (G),
    ``hidden`` (H, default 64), ``global_actions`` (values after the per-learner blocks, default 0),
    ``extra_features`` (E per learner after the globals, learner by learner: the label histograms; default 0).
    :func:`mel_gym.agents.sb3.build_agent` fills K, F, G, E and the global actions from the env.
    """

    def __init__(self, observation_space: spaces.Box, action_space: spaces.Box, lr_schedule: Any, *,
                 num_learners: int, num_features: int, num_globals: int, hidden: int = 64, global_actions: int = 0,
                 extra_features: int = 0, **kwargs: Any):
        expected = num_learners * (num_features + extra_features) + num_globals
        actions = (action_space.shape[0] if len(action_space.shape) == 1 else -1) - global_actions
        if observation_space.shape != (expected,) or actions % num_learners or actions <= 0:
            raise ValueError(
                f"PerLearnerPolicy(K={num_learners}, F={num_features}, G={num_globals}) needs observations of "
                f"shape ({expected},) and actions of a multiple of K plus {global_actions} global values, got "
                f"{observation_space.shape} and {action_space.shape}"
            )
        self._blocks = actions // num_learners
        self._layout = dict(num_learners=num_learners, num_features=num_features, num_globals=num_globals,
                            hidden=hidden, global_actions=global_actions)
        if extra_features:  # saved agents without extra features keep their constructor parameters
            self._layout["extra_features"] = extra_features
        kwargs.setdefault("activation_fn", nn.Tanh)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = PerLearnerExtractor(activation=self.activation_fn, **self._layout)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # Replace the dense K*H -> K mean layer with the shared per-learner head, initialised small so that
        # the untrained policy starts near a = 0 (equal allocation), then rebuild the optimizer over it.
        self.action_net = PerLearnerHead(self._layout["hidden"], self._blocks, self._layout["global_actions"])
        for linear in (self.action_net.linear, self.action_net.global_linear):
            if linear is not None:
                nn.init.orthogonal_(linear.weight, gain=0.01)
                nn.init.zeros_(linear.bias)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self._layout)
        return data
