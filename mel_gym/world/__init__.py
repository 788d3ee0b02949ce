"""Physics of the MEL world in numpy: placement, channels, compute, energy and timing, batched (n_envs, K)."""
