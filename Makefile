# Two commands: `make demo` and `make test`. Both create .venv and install everything pinned.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test postgres chromium fashion-mnist bench clean

install: $(STAMP)

# torch first, pinned, so nothing else can pull a CUDA build of it.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,export,tensorboard,lightning,transformers,notebook]"
	touch $(STAMP)

demo: install
	$(BIN)/babysit run

test: install postgres chromium fashion-mnist
	$(BIN)/python -m pytest

# The multi-machine search test starts a real PostgreSQL server (on loopback, in a temp dir).
postgres:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)

# The report test renders report.html in headless Chromium and checks the screenshot is not blank.
chromium:
	command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The Fashion-MNIST tests and benches read Debian's IDX files (/usr/share/datasets/fashion-mnist).
fashion-mnist:
	test -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null)

# Every benchmark with --json into bench/results/, and the table in bench/RESULTS.md regenerated.
# A subset: make bench BENCHES="overhead inference"
bench: install fashion-mnist
	$(BIN)/python bench/record.py $(BENCHES)

clean:
	rm -rf $(VENV) runs .pytest_cache
