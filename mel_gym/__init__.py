"""mel_gym: Gymnasium environments for Mobile Edge Learning control with an embedded batched FL trainer.

Importing the package registers the env IDs (see :data:`mel_gym.registration.ENV_IDS`).
"""

from mel_gym.config import ConfigError, Scenario, load_scenario
from mel_gym.lazy import lazy_getattr
from mel_gym.registration import ENV_IDS, register_envs

__version__ = "0.1.0"

register_envs()

#: Loaded on first use, so that ``import mel_gym`` (and ``mel-gym --help``) does not import torch or SB3.
__getattr__ = lazy_getattr(__name__, {"Decision": ".simulation", "MELSimulator": ".simulation", "Outcome": ".simulation",
                                      "make_sb3_vec_env": ".envs.sb3_adapter"})

__all__ = ["ConfigError", "Decision", "ENV_IDS", "MELSimulator", "Outcome", "Scenario", "load_scenario",
           "make_sb3_vec_env", "__version__"]
