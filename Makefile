# The two commands: `make run` (the recommender on this machine) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup redis java clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,spark]'
	@touch $@

setup: $(STAMP)

# Redis: $REDIS_URL when set (`movierec up` stops if it does not answer), else redis-server
# (installed with apt-get when missing).
redis: setup
	$(BIN)/python -m movierec.redis_server ensure-binary

# Java for the Spark tests and `movierec train --engine spark` (installed with apt-get when
# missing).
java: setup
	$(BIN)/python -m movierec.java ensure

run: redis
	$(BIN)/movierec up $(if $(DATA),--data $(DATA)) $(if $(CLUSTER),--cluster $(CLUSTER))

test: redis java
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) var *.egg-info
