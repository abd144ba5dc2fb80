# The only entry points people type. Each sets itself up on first use.
#
#   make demo    regenerate workshops, run every lesson (fast profile), grade a demo cohort
#   make test    the whole test suite (what CI runs)
#   make lab     JupyterLab on the course, with nbgrader's formgrader for instructors
#   make setup   the pinned virtual environment (reused while requirements-lock.txt is unchanged)
#   make build   regenerate workshops/ from solutions/
#   make lock    re-pin requirements-lock.txt from the current environment

SHELL := /bin/bash
PYTHON ?= python3
LOCK := requirements-lock.txt
# The venv lives outside the checkout, keyed by the pins, so clones and CI runs share it.
VENV_CACHE ?= $(HOME)/.cache/convtrain
VENV := $(VENV_CACHE)/venv-$(shell sha256sum $(LOCK) | cut -c1-16)
BIN := .venv/bin
JOBS ?= 2

.PHONY: setup demo test lab build lock clean

setup: .venv/.convtrain-ready

# Rebuilt when the lock changes (new hash -> new folder); the editable install of this
# checkout is refreshed every time, since the cached venv may serve several clones.
.venv/.convtrain-ready: $(LOCK) pyproject.toml
	@if [ ! -f "$(VENV)/.complete" ]; then \
	  echo "Creating $(VENV) (first run: a few minutes)"; \
	  rm -rf "$(VENV)" && $(PYTHON) -m venv "$(VENV)" && \
	  "$(VENV)/bin/pip" install --quiet --upgrade pip && \
	  "$(VENV)/bin/pip" install --quiet -r $(LOCK) && \
	  touch "$(VENV)/.complete"; \
	fi
	ln -sfn "$(VENV)" .venv
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (convtrain)" >/dev/null
	touch $@

build: setup
	$(BIN)/convtrain build

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m convtrain.instructor.demo --jobs $(JOBS)

# The full profile rehearsed on the CPU, offline: stand-in fruits and weights in the real
# layouts, small sizes; claims needing real weights or data reported as not checkable.
# LESSONS="05_transfer_learning" runs only those (python -m convtrain.instructor.rehearsal -h).
.PHONY: rehearsal
rehearsal: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m convtrain.instructor.rehearsal $(LESSONS)

# Two runs: nbval keeps a notebook's cells on one worker only with --dist loadfile;
# the test suite balances better with --dist loadgroup (groups marked in the tests).
# The notebooks' measured claims are recorded on the way and printed as one table
# (artifacts/claims/claims.md); a lesson with fewer than MIN_CLAIMS fails.
MIN_CLAIMS ?= 5
CLAIMS := artifacts/claims
test: setup
	rm -f $(CLAIMS)/fast.jsonl
	CONVTRAIN_CLAIMS_FILE="$(CURDIR)/$(CLAIMS)/fast.jsonl" PATH="$(CURDIR)/$(BIN):$$PATH" \
	  $(BIN)/python -m pytest -n $(JOBS) --dist loadfile \
	  --nbval-lax --sanitize-with tests/nbval_sanitize.cfg solutions
	$(BIN)/convtrain claims $(CLAIMS)/fast.jsonl --check --min-per-lesson $(MIN_CLAIMS) \
	  --markdown $(CLAIMS)/claims.md
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup tests

lab: setup
	cd course && PATH="$(CURDIR)/$(BIN):$$PATH" ../$(BIN)/jupyter lab --notebook-dir=..

lock: setup
	{ sed -n '1,3p' $(LOCK); $(BIN)/pip freeze --exclude-editable | grep -v '^convtrain'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

clean:
	rm -rf .venv artifacts course/gradebook.db course/submitted course/autograded course/feedback
