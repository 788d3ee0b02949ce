"""mel_gym in other RL code bases: Ray RLlib (:mod:`mel_gym.integrations.rllib`)."""
