"""Every shipped run config (configs/run/*.yaml) is whole: its env builds, each agent's env (the run's env parameters
with the agent config's over them) builds, its baselines fit the env and its headroom section parses."""

from __future__ import annotations

import pytest

from mel_gym.agents.policy import make_policy
from mel_gym.agents.sb3 import load_agent_config
from mel_gym.experiments.common import make_env
from mel_gym.experiments.headroom import headroom_settings
from mel_gym.experiments.run import agent_plan, load_run_config
from mel_gym.paths import configs_dir

RUN_CONFIGS = sorted(p.stem for p in (configs_dir() / "run").glob("*.yaml"))


def test_the_run_configs_are_found():
    assert {"default", "drift", "arrivals", "multijob"} <= set(RUN_CONFIGS)


@pytest.mark.parametrize("name", RUN_CONFIGS)
def test_a_run_config_builds_its_envs_baselines_and_agents(name):
    cfg = load_run_config(name)
    env_id, scenario, kwargs = cfg["env_id"], cfg.get("scenario"), dict(cfg.get("env_kwargs") or {})
    env = make_env(env_id, scenario, kwargs)
    for baseline in (cfg.get("evaluation") or {}).get("baselines", []):
        make_policy(baseline, env.unwrapped.problem, env.action_space)  # raises where it does not fit the env
    for agent, _ in agent_plan(cfg, quick=False):
        agent_env = make_env(env_id, scenario, {**kwargs, **load_agent_config(agent)["env_kwargs"]})
        assert agent_env.action_space is not None
        agent_env.close()
    headroom_settings(cfg)
    env.close()
