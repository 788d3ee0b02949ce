"""Optimisation solvers for MEL allocation problems (used by the baselines in ``agents``)."""
