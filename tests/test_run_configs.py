"""Every shipped run config (configs/run/*.yaml) is whole: its env builds, each agent's env (the run's env parameters
with the agent config's over them) builds, its baselines fit the env and its headroom section parses."""

from __future__ import annotations

import pytest

from mel_gym.agents.registry import make_policy
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


def test_learning_curve_lines_play_the_baselines_at_their_tuned_knobs(tmp_path):
    from mel_gym.experiments.run import learning_curves

    kwargs = {"horizon_cycles": 3, "amount_action": True}
    default = learning_curves(tmp_path, [], [], ["ha-sync-fraction"], "mel_gym/TaskAllocation-v0", kwargs)
    tuned = learning_curves(tmp_path, [], [], ["ha-sync-fraction"], "mel_gym/TaskAllocation-v0", kwargs,
                            {"ha-sync-fraction": {"fraction": 0.2, "scores": [1.0]}})
    assert (tmp_path / "learning_curves.png").is_file()
    assert tuned["baselines"]["ha-sync-fraction"] != default["baselines"]["ha-sync-fraction"]
