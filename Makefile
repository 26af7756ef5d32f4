# Bootstraps its own virtualenv: nothing is assumed installed but Python 3.11.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch (pip takes it from a local wheel where one is cached). On a CUDA
# host use e.g. `make test TORCH=torch==2.13.0 --index-url ...` or install torch yourself.
TORCH  ?= torch==2.13.0
# `make serve` listens where DCGAN_HOST / DCGAN_PORT say, as dcgan-serve itself does
# (`make serve PORT=9000` works too)
HOST   ?= $(or $(DCGAN_HOST),127.0.0.1)
PORT   ?= $(or $(DCGAN_PORT),8000)

.DEFAULT_GOAL := help
.PHONY: help serve demo test test-slow test-fid check-k8s k8s-rules lint lock clean bench-gpu mutants docs docs-serve

help:
	@echo "make serve       set up .venv (serving set, no torch) and serve models/ on http://$(HOST):$(PORT)"
	@echo "make test        set up .venv (training + dev set) and run lint, import contracts and the tests"
	@echo "make test-slow   the slow tests (real training runs, load tests)"
	@echo "make mutants     realistic small bugs, each of which a test must catch"
	@echo "make demo        a short training + export on the built-in digits data set"
	@echo "make lint        ruff, ruff format --check, mypy, lint-imports"
	@echo "make docs        set up .venv (training + dev set) and build the docs site into site/; make docs-serve: on http://127.0.0.1:$(DOCS_PORT)"
	@echo "make test-fid    standard FID tests in a virtualenv of their own"
	@echo "make bench-gpu   GPU benchmarks (docs/benchmarks.md); make lock, make clean"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Serving set only: no torch.
$(VENV)/.serve-installed: pyproject.toml | $(BIN)/python
	@echo "installing the serving set into $(VENV) (onnxruntime, FastAPI, OpenTelemetry; ~100 MB, about a minute)"
	$(BIN)/pip install --progress-bar on -e '.[cpu,otel]'
	touch $@

serve: $(VENV)/.serve-installed
	$(BIN)/dcgan-serve --host $(HOST) --port $(PORT)

# Training + development set (torch first, so the range in pyproject is already met).
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	@echo "installing torch (CPU build, ~200 MB), then the training and test set into $(VENV) (a few minutes)"
	$(BIN)/pip install --progress-bar on "$(TORCH)"
	$(BIN)/pip install --progress-bar on -e '.[cpu,otel,train,dev,docs]'
	touch $@ $(VENV)/.serve-installed

test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	$(BIN)/pytest

test-slow: $(VENV)/.dev-installed
	$(BIN)/pytest -m slow

# Realistic small bugs (tests/mutations.py), each made in a copy of the project: every one
# must fail a test; fails below a 90% kill ratio or when a mutated line has moved.
mutants: $(VENV)/.dev-installed
	$(BIN)/python tests/mutations.py

# Standard FID (`dcgan evaluate --inception-weights`, the `fid` extra) in a virtualenv of its
# own: torch-fidelity imports torchvision, and PyPI's torchvision matches only PyPI's torch (a
# CUDA build, ~5.5 GB installed), not the CPU torch of .venv.
VENV_FID  ?= .venv-fid
FID_TORCH ?= torch==2.14.1 torchvision==0.29.1
$(VENV_FID)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_FID)
	$(VENV_FID)/bin/pip install -q --upgrade pip
	$(VENV_FID)/bin/pip install -q $(FID_TORCH)
	$(VENV_FID)/bin/pip install -q -e '.[cpu,train,fid]' pytest pytest-timeout
	touch $@

test-fid: $(VENV_FID)/.installed
	DCGAN_REQUIRE_FID=1 $(VENV_FID)/bin/pytest -p no:cacheprovider tests/training/quality/test_inception.py

# checkov, the security scan of deploy/k8s, in a virtualenv of its own: its pins (packaging
# 23.2, ...) would downgrade .venv's. tests/deploy/test_k8s.py uses it when it is there.
VENV_CHECKOV ?= .venv-checkov
CHECKOV      ?= checkov==3.3.30
$(VENV_CHECKOV)/bin/checkov:
	$(PYTHON) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/pip install -q $(CHECKOV)

# Everything about deploy/k8s and the replicas: kustomize renders, schema validation (KServe's
# CRD schema for the InferenceService), the security scan, the two-node torchrun rendezvous
# and three replicas behind HAProxy.
check-k8s: $(VENV)/.dev-installed $(VENV_CHECKOV)/bin/checkov
	DCGAN_REQUIRE_DEPLOY_TOOLS=1 $(BIN)/pytest -m "slow or not slow" tests/deploy/test_k8s.py \
		tests/deploy/test_k8s_kserve.py tests/deploy/test_k8s_training.py \
		tests/deploy/test_multi_replica.py

# The PrometheusRule of deploy/k8s from deploy/prometheus/alerts.yml (a test fails on drift).
k8s-rules: | $(BIN)/python
	$(BIN)/python deploy/k8s/render_prometheusrule.py

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The docs site (mkdocs.yml): --strict fails on a broken link or anchor, and the hooks in
# docs/_gen fail it when a generated reference page lacks an item of its source.
DOCS_PORT ?= 8001
docs: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.dev-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

# A short training + export on the built-in digits data set (about half a minute on 2 cores).
demo: $(VENV)/.dev-installed
	$(BIN)/dcgan train --preset mnist28 --data digits --epochs 1 --run-dir runs/digits --overwrite
	$(BIN)/dcgan export runs/digits --name digits --models-dir runs/models
	@echo "demo model: runs/models/digits/ (samples.png shows seeds 0..63)"

# Everything a GPU changes, measured in one run (bench/bench_gpu.py; docs/benchmarks.md "GPU").
# With nvidia-smi present: its own virtualenv with PyPI's CUDA build of torch and
# onnxruntime-gpu (the `gpu` extra); without: the dev virtualenv, tiny sizes on the CPU.
VENV_GPU ?= .venv-gpu
BENCH_ARGS ?=
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
# PyPI's Linux torch wheel is the CUDA build; any local CPU wheel folder is bypassed
PIP_PYPI := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null

$(VENV_GPU)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_GPU)
	$(PIP_PYPI) $(VENV_GPU)/bin/pip install -q --upgrade pip
	$(PIP_PYPI) $(VENV_GPU)/bin/pip install -q "$(TORCH)"
	$(PIP_PYPI) $(VENV_GPU)/bin/pip install -q -e '.[gpu,train,bench]'
	touch $@

ifeq ($(HAS_GPU),1)
bench-gpu: $(VENV_GPU)/.installed
	$(VENV_GPU)/bin/python bench/bench_gpu.py $(BENCH_ARGS)
else
bench-gpu: $(VENV)/.dev-installed
	$(BIN)/python bench/bench_gpu.py $(BENCH_ARGS)
endif

# Hash-locked dependencies for the Docker images, resolved against PyPI only (the machine's
# local wheel folders and pip caps are ignored so that torch is PyPI's Linux build).
LOCK := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(BIN)/pip-compile -q --strip-extras \
	--generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: | $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(LOCK) --extra cpu --extra otel -o requirements/serve-cpu.lock pyproject.toml
	$(LOCK) --extra gpu --extra otel -o requirements/serve-gpu.lock pyproject.toml
	echo "$(TORCH)" > requirements/torch.txt
	$(LOCK) --extra cpu --extra train -c requirements/torch.txt -o requirements/train.lock pyproject.toml

clean:
	rm -rf $(VENV) $(VENV_FID) $(VENV_CHECKOV) .pytest_cache .mypy_cache .ruff_cache site
