# The README's two commands are `make demo` and `make test`; both install first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := espeak-ng fortunes fortunes-de fortunes-es fortunes-it fortunes-cs fortunes-ru fortunes-pl
DEMO_CONFIGS := configs/digits.yaml
RUNS_DIR ?= runs

.PHONY: install demo test lint clean debian-packages

install: $(VENV)/.installed debian-packages

# Re-install only when the package's declared dependencies change.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Debian packages used by runs and tests: speech synthesis and the fortunes text corpora.
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

demo: install
	@for cfg in $(DEMO_CONFIGS); do \
		$(BIN)/tasklab run $$cfg --runs-dir $(RUNS_DIR) | tee .demo-last.log || exit 1; \
		echo "Report: $$(tail -n 1 .demo-last.log)/report.html"; \
	done; rm -f .demo-last.log

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache
