# Two commands: `make demo` and `make test`. Both create .venv and install everything pinned.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

# torch first, pinned, so nothing else can pull a CUDA build of it.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: install
	$(BIN)/babysit run

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
