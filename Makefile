# The README's two commands are `make demo` and `make test`; both install first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := espeak-ng fortunes fortunes-de fortunes-es fortunes-it fortunes-cs fortunes-ru fortunes-pl chromium chromium-driver fonts-liberation
DEMO_CONFIGS := digits_quick breast_cancer fortunes_topics_quick spoken_words_quick
RUNS_DIR ?= runs

.PHONY: install demo test bench lint clean debian-packages

install: $(VENV)/.installed debian-packages

# Re-install only when the package's declared dependencies change.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Debian packages used by runs and tests: speech synthesis, the fortunes text corpora, and
# Chromium with its WebDriver and fonts (the report is tested in a headless browser; apt-get
# runs with --no-install-recommends, which would leave out the fonts Chromium recommends).
debian-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
		echo "tasklab needs these Debian packages, which are missing: $$missing" >&2; \
		echo "Install them with: sudo apt-get install $$missing" >&2; \
		exit 1; \
	fi

# Streams each run's output and collects the run directory it prints last.
demo: install
	@reports=(); \
	for cfg in $(DEMO_CONFIGS); do \
		run_dir=$$($(BIN)/tasklab run "$$cfg" --runs-dir $(RUNS_DIR) | tee /dev/stderr | tail -n 1); \
		reports+=("$$run_dir/report.html"); \
	done; \
	echo; echo "Reports:"; printf '  %s\n' "$${reports[@]}"

# Two pytest workers (pytest-xdist), a test file each at a time so module fixtures are built
# once: most tests keep one core busy (small models, tracing, subprocess start-up), so two
# workers halve the wall time on two cores. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Each benchmark measures its setups side by side and writes bench/results/NAME.json; the
# summary writes the tables into the README's Performance section.
BENCHMARKS := first_run overhead time_to_accuracy growth scaling explain_cost

bench: install
	@for benchmark in $(BENCHMARKS); do \
		echo "== bench.$$benchmark"; \
		$(BIN)/python -m bench.$$benchmark || exit 1; \
	done
	$(BIN)/python -m bench.summary > /dev/null
	@echo "Results: bench/results/*.json; tables: bench/results/summary.md and README.md (Performance)"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) runs .pytest_cache
