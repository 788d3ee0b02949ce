# The two commands of the README: `make run` (train and compare on the default scenario) and
# `make test` (the test suite). Both create .venv and install the project into it first.
PYTHON ?= python3
VENV ?= .venv
# torch==2.13.0 is a small CPU build on the project's build machines and the default (CUDA) build from
# PyPI elsewhere; pick another build with e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
# The oldest Gymnasium mel_gym supports (Ray RLlib pins it); `make test` also runs the API tests against it.
GYM_MIN ?= 1.2.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.mel_gym_installed
COMPAT_VENV := .venv-gym$(GYM_MIN)
COMPAT_STAMP := $(COMPAT_VENV)/.mel_gym_installed

.PHONY: install run test test-compat clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: install
	$(BIN)/mel-gym run --overwrite

test: install
	$(BIN)/python -m pytest -n 2 -q
	$(MAKE) test-compat

$(COMPAT_STAMP): pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(COMPAT_VENV)/bin/python -m pip install --quiet -e ".[dev,ray]" "gymnasium==$(GYM_MIN)"
	touch $(COMPAT_STAMP)

# The Gymnasium-facing tests (registration, checkers, spaces, vector envs, baselines, SB3 training) on the
# oldest Gymnasium.
test-compat: $(COMPAT_STAMP)
	$(COMPAT_VENV)/bin/python -c "import gymnasium; assert gymnasium.__version__ == '$(GYM_MIN)', gymnasium.__version__"
	$(COMPAT_VENV)/bin/python -m pytest -n 2 -q -m "not slow" tests/test_env.py tests/test_envs.py tests/test_vector.py tests/test_baselines.py tests/test_selection.py tests/test_reliable.py tests/test_drone.py tests/test_relocation.py tests/test_multiagent.py tests/test_multijob.py tests/test_agents.py tests/test_rllib.py

clean:
	rm -rf $(VENV) $(COMPAT_VENV) runs build *.egg-info
