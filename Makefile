# Everything a user runs. State lives under the repo root and is git-ignored; `make clean` removes it.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The embedded default. Each can be overridden from the environment. The models are the folders under
# ml_platform/defs/models/ (customer segmentation and iris); ML_PLATFORM_DATASET=path/to/spec.yaml makes
# that spec the only model (the single-model shortcut), e.g.
#   ML_PLATFORM_DATASET=datasets/iris.yaml make run
export ML_PLATFORM_DATASET ?=
# Where every file lives (landing, labels, scoring, inference log, asset values, reports, MLflow's artifacts):
# a folder, or an object store, e.g. ML_PLATFORM_STORAGE=s3://bucket/prefix with the standard
# AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment.
export ML_PLATFORM_STORAGE ?= $(CURDIR)/data
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/.mlflow/mlflow.db
export MLFLOW_ARTIFACTS_DESTINATION ?= $(ML_PLATFORM_STORAGE)/mlflow
export BENTOML_HOME ?= $(CURDIR)/.bentoml
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export ML_PLATFORM_ALERT_WEBHOOK ?=
export ML_PLATFORM_PUSHGATEWAY_URL ?=
export BENTOML_DO_NOT_TRACK := True
export DAGSTER_DISABLE_TELEMETRY := 1
export MLFLOW_ENABLE_TELEMETRY := false
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export MLFLOW_ALLOW_PICKLE_DESERIALIZATION := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test ui mlflow-ui serve serve-all export-bento new-model k8s-manifests clean install browser monitoring-tools state simulate-drift rollback bench-serving bench-pauses bench-forest bench-training wrk soak

install: $(STAMP)

# Only the locked bytes: every pin hashed (scripts/relock.py), pip itself included. --no-deps because the
# locks are complete (`pip check` proves it) and older pips refuse a dependency's extras in hash mode.
# The project itself is the one unhashed install (editable).
$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --no-deps --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -qq --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

state: $(STAMP)
	mkdir -p $(DAGSTER_HOME) $(BENTOML_HOME) $(CURDIR)/.mlflow
	cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true

run: state
	$(BIN)/python -m ml_platform.quickstart

test: $(STAMP) browser monitoring-tools
	$(BIN)/python -m pytest -n auto --dist loadgroup

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the UI test"; \
	  $(SUDO) apt-get install -y -q chromium >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }

# promtool checks the alert rules; the monitoring tests start a real Prometheus and Pushgateway.
monitoring-tools:
	@command -v promtool >/dev/null && command -v prometheus-pushgateway >/dev/null || { \
	  echo "installing Debian's prometheus and prometheus-pushgateway for the monitoring tests"; \
	  $(SUDO) apt-get install -y -q prometheus prometheus-pushgateway >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q prometheus prometheus-pushgateway >/dev/null; }; }

ui: state
	exec $(BIN)/python -m ml_platform.ui -h 127.0.0.1 -p 3000 -w workspace.yaml

mlflow-ui: state
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 --backend-store-uri $(MLFLOW_TRACKING_URI) \
	  --default-artifact-root $(MLFLOW_ARTIFACTS_DESTINATION)

# Per-model commands take MODEL=<folder under ml_platform/defs/models/> (the first model by default).
MODEL ?=
PORT ?= 3001
MODEL_ENV = eval "$$($(BIN)/python -m ml_platform.model_env $(MODEL))"

serve: state
	$(MODEL_ENV) && bento=$$($(BIN)/python -m ml_platform.lib.champion_bento) && \
	  $(BIN)/bentoml serve "$$bento" --host 127.0.0.1 --port $(PORT)

# Every model's champion at once, on consecutive ports from PORT (3001, 3002, ...); Ctrl-C stops them all.
serve-all: state
	@port=$(PORT); for model in $$($(BIN)/python -m ml_platform.model_env --list); do \
	  echo "serving $$model on http://127.0.0.1:$$port"; \
	  $(MAKE) --no-print-directory serve MODEL=$$model PORT=$$port & port=$$((port + 1)); done; wait

# The champion's Bento unpacked into build/bento: the context of deploy/docker/bento.Dockerfile.
export-bento: state
	$(MODEL_ENV) && bento=$$($(BIN)/python -m ml_platform.lib.champion_bento) && rm -rf build/bento build/bento.tar && \
	  mkdir -p build/bento && $(BIN)/bentoml export "$$bento" build/bento.tar && tar -xf build/bento.tar -C build/bento

# A new model from a CSV: ml_platform/defs/models/$(NAME)/ with a spec template inferred from its columns.
new-model: $(STAMP)
	@test -n "$(NAME)" -a -n "$(DATA)" -a -n "$(TARGET)" || { echo "usage: make new-model NAME=churn DATA=path/to/churn.csv TARGET=churned"; exit 2; }
	$(BIN)/python -m ml_platform.new_model "$(NAME)" "$(DATA)" "$(TARGET)"

# The cluster's manifests from the model list and deploy/images.env: one Bento per model (deploy/README.md).
k8s-manifests: $(STAMP)
	$(BIN)/python deploy/models.py && $(BIN)/python deploy/images.py && $(BIN)/python deploy/models.py --check

simulate-drift: state
	$(MODEL_ENV) && $(BIN)/python -m ml_platform.simulate

rollback: state
	$(MODEL_ENV) && $(BIN)/python -m ml_platform.rollback $(if $(TO),--to $(TO))

wrk:
	@command -v wrk >/dev/null || { echo "installing Debian's wrk for the serving benchmarks"; \
	  $(SUDO) apt-get install -y -q wrk >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q wrk >/dev/null; }; }

bench-serving: state wrk
	$(BIN)/python benchmarks/serving.py

# Latency at a fixed offered rate (50% and 80% of the closed-loop peak and of the open-loop capacity) and
# every pause, beside the closed-loop peak.
bench-pauses: state wrk
	$(BIN)/python benchmarks/pauses.py

# The served model's call by batch size: scikit-learn against the compiled forest's level walk and leaf masks.
bench-forest: state
	$(BIN)/python benchmarks/forest.py

# The default spec at 1, 5 and 20 batches of 1,000,000 rows through the real assets (about 20 min on 2 cores).
bench-training: $(STAMP)
	$(BIN)/python benchmarks/training_scale.py

soak: state
	$(BIN)/python benchmarks/soak.py

clean:
	rm -rf .dagster_home .mlflow .bentoml data build
