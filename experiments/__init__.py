"""Experiment entry points behind the ``mel-gym`` CLI: train, evaluate, run (the main job), download."""
