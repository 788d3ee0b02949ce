"""The multi-agent view: every learner is an agent (PettingZoo's ``ParallelEnv``), and a shared-policy adapter.

:class:`LearnerParallelEnv` wraps a mel_gym env whose action is blocks of K values (one block value per learner per
block: TaskAllocation-v0, AsyncTaskAllocation-v0, JointAllocation-v0, ReliableTaskAllocation-v0,
LearnerRelocation-v0): agent ``learner_k`` sees its own features and the globals and chooses its own values; the
team shares the env's reward. :class:`SharedPolicyVecEnv` turns it into an SB3 ``VecEnv`` of K agents, so one policy
learns from every learner's experience (parameter sharing).
"""

try:
    import pettingzoo  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError("mel_gym.multiagent needs PettingZoo: pip install 'mel_gym[multiagent]' (or pettingzoo>=1.24)"
                      ) from error

from mel_gym.multiagent.parallel import LearnerParallelEnv, parallel_env  # noqa: E402
from mel_gym.multiagent.shared import SharedPolicyVecEnv  # noqa: E402

__all__ = ["LearnerParallelEnv", "SharedPolicyVecEnv", "parallel_env"]
