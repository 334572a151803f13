# The README's contract: `make run` and `make test` each set up .venv when needed
# (idempotent: a second call only checks a stamp) and then do their job.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mediaframe-installed

.PHONY: setup run test lint ui bench bench-quality clean

setup: $(STAMP)

# torch is installed first and by exact version: that takes the CPU build on disk,
# where a looser request would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing mediaframe into $(VENV) (pinned by constraints.txt)"
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q torch==2.13.0 -c constraints.txt
	@$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/mediaframe run --config configs/run.yaml

# pytest exits 5 when it collects no test: a suite that runs nothing proves nothing.
test: $(STAMP)
	@$(BIN)/python -m pytest -q -ra tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check labeling models pipelines tests bench

ui: $(STAMP)
	$(BIN)/mediaframe ui

# Speed and memory on this machine: tables printed, JSON in bench/results/.
bench: $(STAMP)
	$(BIN)/python bench/bench_models.py

# Quality on the public datasets' dev splits (bench/RESULTS.md): baselines first, then one
# transformer at a time; each run fits 60 minutes on 2 CPU cores. DATASETS=../shared/datasets
DATASETS ?= ../shared/datasets
bench-quality: $(STAMP)
	$(BIN)/mediaframe benchmark gvfc --data-dir $(DATASETS)/gvfc --model baseline
	$(BIN)/mediaframe benchmark semeval2023 --data-dir $(DATASETS)/semeval2023 --model baseline
	$(BIN)/mediaframe benchmark semeval2023 --data-dir $(DATASETS)/semeval2023 --model weak
	$(BIN)/mediaframe benchmark fnc1 --data-dir $(DATASETS)/fnc1 --model baseline
	$(BIN)/mediaframe benchmark newsmtsc --data-dir $(DATASETS)/newsmtsc --model baseline
	$(BIN)/mediaframe benchmark gvfc --data-dir $(DATASETS)/gvfc --model transformer
	$(BIN)/mediaframe benchmark semeval2023 --data-dir $(DATASETS)/semeval2023 --model transformer
	$(BIN)/mediaframe benchmark fnc1 --data-dir $(DATASETS)/fnc1 --model transformer
	$(BIN)/mediaframe benchmark newsmtsc --data-dir $(DATASETS)/newsmtsc --model transformer

clean:
	rm -rf runs mlruns.db mlartifacts
