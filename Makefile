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

# The suite on TEST_WORKERS processes (pytest-xdist; default: one per core, at most 4, each up to ~1 GB): each
# test file runs whole on one worker (module fixtures are built once), the files with slow tests first
# (tests/conftest.py orders them); `make test TEST_WORKERS=0` runs it in this process alone.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(4, len(os.sched_getaffinity(0))))" 2>/dev/null || echo 2)
# The tests' programs are tiny, so XLA's compile time dominates: the suite compiles with LLVM's cheaper
# optimization level (the same semantics, measured ~20% less CPU on compile-bound tests). One BLAS thread per
# worker: the workers already fill the cores (implicit warns about nested thread pools otherwise).
TEST_XLA_FLAGS ?= --xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true

test: $(STAMP)
	XLA_FLAGS="$(TEST_XLA_FLAGS)" OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q --durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

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
