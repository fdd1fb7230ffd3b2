# ticksmith: `make run` runs the service end to end, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA_PORT ?= 9092
TEST_KAFKA_PORT ?= 19092
DURATION ?=
SYMBOLS ?= 500
RATE ?= 20000
PYTEST_ARGS ?=

.PHONY: install run test lint lint-deploy typecheck bench kafka-start kafka-stop clean dashboard-png bar-types-png

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev,bench,viz,deploy]'
	touch $@

run: install
	KAFKA_PORT=$(KAFKA_PORT) SYMBOLS=$(SYMBOLS) RATE=$(RATE) PATH="$(CURDIR)/$(BIN):$$PATH" \
		deploy/run-local.sh $(DURATION)

test: install
	deploy/prometheus/install.sh
	KAFKA_PORT=$(TEST_KAFKA_PORT) deploy/kafka/broker.sh start
	status=0; TICKSMITH_TEST_KAFKA_PORT=$(TEST_KAFKA_PORT) $(BIN)/pytest $(PYTEST_ARGS) || status=$$?; \
		KAFKA_PORT=$(TEST_KAFKA_PORT) deploy/kafka/broker.sh stop; exit $$status

lint: install
	$(BIN)/ruff check service tests bench deploy/grafana docs/render
	$(BIN)/ruff format --check service tests bench deploy/grafana docs/render
	$(BIN)/mypy service tests deploy/grafana/render.py docs/render

lint-deploy: install
	$(BIN)/hadolint Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
	$(BIN)/kubernetes-validate --strict --quiet deploy/k8s/*.yaml deploy/k8s/extras/hpa-consumer-lag.yaml

BENCHES := $(filter-out _%,$(patsubst bench/%.py,%,$(wildcard bench/*.py)))
bench: $(addprefix bench-,$(BENCHES))

bench-%: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/$*.py

dashboard-png: install
	deploy/prometheus/install.sh
	PYTHON=$(CURDIR)/$(BIN)/python deploy/grafana/render-local-run.sh docs/dashboard.png

# docs/bar-types.png: one symbol's synthetic ticks replayed through a real run
# (its own broker on KAFKA_PORT 19792), drawn as time, tick, volume and dollar bars.
bar-types-png: install
	KAFKA_PORT=19792 $(BIN)/python docs/render/bar_types.py docs/bar-types.png

kafka-start:
	KAFKA_PORT=$(KAFKA_PORT) deploy/kafka/broker.sh start

kafka-stop:
	KAFKA_PORT=$(KAFKA_PORT) deploy/kafka/broker.sh stop

clean:
	rm -rf $(VENV) .run build dist service/*.egg-info
