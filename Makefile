# The two commands of the README: `make run` (train and compare on the default scenario) and
# `make test` (the test suite). Both create .venv and install the project into it first.
PYTHON ?= python3
VENV ?= .venv
# torch==2.13.0 installs the CPU-only build where the package index offers one for that version and the default
# (CUDA) build from PyPI otherwise; pick another build with e.g.
# TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
# The oldest Gymnasium whose vector API mel_gym supports (Ray RLlib pins it); `make test` also runs the API tests
# against it, and the single-env tests against Gymnasium 0.29.1 (CleanRL's pin; no 1.x vector API there).
GYM_MIN ?= 1.2.2
GYM_OLD ?= 0.29.1
BIN := $(VENV)/bin
STAMP := $(VENV)/.mel_gym_installed
COMPAT_VENV := .venv-gym$(GYM_MIN)
COMPAT_STAMP := $(COMPAT_VENV)/.mel_gym_installed
# What each venv installs (variables, since a comma would split $(call ...)): RL Baselines3 Zoo and the docs tools
# (Sphinx, for `make docs`) in the main venv, RLlib in the Gymnasium 1.2.2 venv (it pins that version).
MAIN_INSTALL := ".[dev,rlzoo,docs]"
COMPAT_INSTALL := ".[dev,ray]" "gymnasium==$(GYM_MIN)"
OLD_VENV := .venv-gym$(GYM_OLD)
OLD_STAMP := $(OLD_VENV)/.mel_gym_installed

# The docs site (Sphinx + MyST + furo): every warning is an error (-W, -n: every cross-reference must resolve), and
# -E reads every page again, so that a warning of an unchanged page is not hidden by the saved environment.
DOCS_BUILD := docs/_build
SPHINXOPTS ?= -E -W --keep-going -n -q
# The reference pages docs/_ext/mel_gym_docs.py writes at build time (its GENERATED; ignored by git).
DOCS_GENERATED := docs/reference/envs docs/reference/observations.md docs/reference/scenario.md docs/reference/cli.md \
                  docs/reference/result_files.md

.PHONY: install run test test-compat test-gym-old docs wheel clean

# A venv in folder $(1) with torch first (TORCH_SPEC), then the project with the pip arguments $(2).
define make_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(1)/bin/python -m pip install --quiet -e $(2)
	touch $(1)/.mel_gym_installed
endef

install: $(STAMP)

$(STAMP): pyproject.toml
	$(call make_venv,$(VENV),$(MAIN_INSTALL))

run: install
	$(BIN)/mel-gym run --overwrite

test: install
	$(BIN)/python -m pytest -n 2 -q
	$(MAKE) docs
	$(MAKE) test-compat
	$(MAKE) test-gym-old

$(COMPAT_STAMP): pyproject.toml
	$(call make_venv,$(COMPAT_VENV),$(COMPAT_INSTALL))

# The Gymnasium-facing tests (registration, checkers, spaces, vector envs, baselines, SB3 training) on the
# oldest Gymnasium; the tests that train an agent until it beats a baseline (marker `learning`) run once, in the
# main suite.
test-compat: $(COMPAT_STAMP)
	$(COMPAT_VENV)/bin/python -c "import gymnasium; assert gymnasium.__version__ == '$(GYM_MIN)', gymnasium.__version__"
	$(COMPAT_VENV)/bin/python -m pytest -n 2 -q -m "not slow and not learning" tests/test_env.py tests/test_envs.py tests/test_vector.py tests/test_baselines.py tests/test_selection.py tests/test_reliable.py tests/test_drone.py tests/test_relocation.py tests/test_multiagent.py tests/test_multijob.py tests/test_agents.py tests/test_rllib.py tests/test_sweep.py tests/test_gymnasium_compat.py tests/test_amount.py

$(OLD_STAMP): pyproject.toml
	$(call make_venv,$(OLD_VENV),".[dev]" "gymnasium==$(GYM_OLD)")

# The single envs on Gymnasium 0.29.1: both checkers, its wrappers, its SyncVectorEnv, SB3 over them, and the
# native vector env's clear refusal.
test-gym-old: $(OLD_STAMP)
	$(OLD_VENV)/bin/python -c "import gymnasium; assert gymnasium.__version__ == '$(GYM_OLD)', gymnasium.__version__"
	$(OLD_VENV)/bin/python -m pytest -n 2 -q tests/test_gymnasium_compat.py tests/test_env.py tests/test_examples.py

# The HTML site in docs/_build/html (open docs/_build/html/index.html); no network needed.
docs: install
	$(BIN)/sphinx-build $(SPHINXOPTS) -b html docs $(DOCS_BUILD)/html
	@echo "docs: $(DOCS_BUILD)/html/index.html"

# A wheel of the project in dist/ (mel_gym is not on PyPI): pip install dist/mel_gym-*.whl
wheel:
	$(PYTHON) -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(OLD_VENV) runs build dist *.egg-info $(DOCS_BUILD) $(DOCS_GENERATED)
