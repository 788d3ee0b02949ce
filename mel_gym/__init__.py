"""mel_gym: Gymnasium environments for Mobile Edge Learning control with an embedded batched FL trainer.

Importing the package registers the env IDs (see :data:`mel_gym.registration.ENV_IDS`).
"""

from mel_gym.config import ConfigError, Scenario, load_scenario
from mel_gym.registration import ENV_IDS, register_envs
from mel_gym.sim import Decision, MELSimulator, Outcome

__version__ = "0.1.0"

register_envs()

__all__ = ["ConfigError", "Decision", "ENV_IDS", "MELSimulator", "Outcome", "Scenario", "load_scenario", "__version__"]
