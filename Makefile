# Two commands on a fresh machine:  make ask Q="..."   and   make test
# Both create .venv and install regionqa with its pinned models on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
Q ?= How much cargo can the Alat port handle now?

.PHONY: install ask test bench eval schemas lexicon clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,ray]'  # ray: tests/test_ray.py runs a real local cluster
	$(BIN)/python -m compileall -q src  # as pip does for a regular install: no cold start compiles regionqa's modules
	touch $(STAMP)

install: $(STAMP)

ask: $(STAMP)
	$(BIN)/regionqa ask "$(Q)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

eval: $(STAMP)
	$(BIN)/regionqa eval ../shared/eval/sample_qa.jsonl
	$(BIN)/regionqa eval eval/out_of_corpus.jsonl

# The JSON Schemas of every --json output, generated (src/regionqa/schemas.py) from the pydantic models of src/regionqa/contract.py
# (tests/test_schemas.py fails when a committed schema is not the generated one).
schemas: $(STAMP)
	$(BIN)/python -m regionqa.schemas schemas

# The ISO 4217 table (src/regionqa/currencies.json: codes, English names, signs), generated from Babel's CLDR data
# (tests/test_figures.py fails when the committed table is not the generated one).
lexicon: $(STAMP)
	$(BIN)/python -m regionqa.lexicon

# Bounded defaults (about 15 minutes on 2 cores); each script's --help says how to run it fuller,
# e.g. bench_scale.py --sizes 100000 1000000 or bench_build.py without --limit (the whole SciFact).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_cold_ask.py
	$(BIN)/python benchmarks/bench_serve.py
	$(BIN)/python benchmarks/bench_reader_batching.py
	$(BIN)/python benchmarks/bench_live_reload.py
	$(BIN)/python benchmarks/bench_scale.py --sizes 100000
	$(BIN)/python benchmarks/bench_build.py --limit 1000
	$(BIN)/python benchmarks/bench_ray_build.py --limit 1000
	$(BIN)/python -m pytest -q -m slow tests

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.lock

# The span reader (issue 11): fine-tune the packaged MiniLM on ../shared/qa (about 45-55 minutes on 2 cores;
# checkpoints and --resume, see training/README.md), then export it to ONNX fp32 and int8 and evaluate both.
READER_RUN ?= $(HOME)/.cache/regionqa/reader-run
reader: $(STAMP)
	mkdir -p $(READER_RUN)
	$(BIN)/python training/train_reader.py --run-dir $(READER_RUN) --resume
	$(BIN)/python training/export_reader.py --run-dir $(READER_RUN)
