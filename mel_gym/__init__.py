"""mel_gym: Gymnasium environments for Mobile Edge Learning control with an embedded batched FL trainer.

Importing the package registers the env IDs (see :data:`mel_gym.registration.ENV_IDS`).
"""

from mel_gym.config import ConfigError, Scenario, load_scenario
from mel_gym.registration import ENV_IDS, register_envs
from mel_gym.sim import Decision, MELSimulator, Outcome

__version__ = "0.1.0"

register_envs()


def __getattr__(name: str):
    # make_sb3_vec_env imports stable-baselines3: load it only when asked for.
    if name == "make_sb3_vec_env":
        from mel_gym.envs.sb3_adapter import make_sb3_vec_env

        return make_sb3_vec_env
    raise AttributeError(f"module 'mel_gym' has no attribute {name!r}")

__all__ = ["ConfigError", "Decision", "ENV_IDS", "MELSimulator", "Outcome", "Scenario", "load_scenario",
           "make_sb3_vec_env", "__version__"]
