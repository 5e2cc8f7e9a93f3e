# Set-up contract: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_RUN ?= runs/demo

.PHONY: demo test venv clean bench mutate
, := ,

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/jaxsae run --dataset synthetic --out $(DEMO_RUN)

test: $(STAMP)
	XLA_FLAGS=--xla_force_host_platform_device_count=4 $(PY) -m pytest -q --durations=15

# Plant realistic bugs in the core one at a time (a temporary copy) and check that the tests catch each.
mutate: $(STAMP)
	XLA_FLAGS=--xla_force_host_platform_device_count=4 $(PY) scripts/mutate.py

# The PyTorch peer runs beside ours when ../shared/baselines exists (same machine, same run).
BASELINE ?= $(wildcard ../shared/baselines)
BENCH_PEER = $(if $(BASELINE),--baseline $(BASELINE),)

bench: $(STAMP)
	$(VENV)/bin/jaxsae bench sae --json $(BENCH_PEER) $(if $(BASELINE),--baseline-impls reference$(,)idiomatic$(,)compiled,)
	$(VENV)/bin/jaxsae bench rec --json --model mf,ncf,quality $(BENCH_PEER) $(if $(BASELINE),--baseline-impls reference,)
	$(VENV)/bin/jaxsae bench eval --json

clean:
	rm -rf $(VENV) runs .pytest_cache
