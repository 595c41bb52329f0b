# interhand — every target is a thin call of the `interhand` CLI (see README.md).
# Set-up is automatic: the first target that needs Python builds .venv once; it is rebuilt
# only when pyproject.toml changes (the stamp file's name carries its hash).

PYTHON  ?= python3
VENV    ?= .venv
DATA    ?= data
SHARDS  ?= shards
OUT     ?= output
SEED    ?= 0
FRAMES  ?= 24

BIN     := $(VENV)/bin
STAMP   := $(VENV)/.stamp-$(shell sha256sum pyproject.toml | cut -c1-16)
IH      := $(BIN)/interhand

.PHONY: venv test test-fast demo synth bench bench-synth bench-model clean

venv: $(STAMP)

$(STAMP): pyproject.toml scripts/install-pillow-simd.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	bash scripts/install-pillow-simd.sh $(BIN)/python
	rm -f $(VENV)/.stamp-* && touch $@

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow'

synth: $(STAMP)
	$(IH) synth $(DATA)/InterHand2.6M --dataset interhand26m --seed $(SEED)
	$(IH) synth $(DATA)/STB --dataset stb --seed $(SEED)
	$(IH) synth $(DATA)/RHD --dataset rhd --seed $(SEED)

demo: $(STAMP)
	$(IH) synth $(OUT)/demo/data/InterHand2.6M --dataset interhand26m --seed $(SEED) --frames $(FRAMES) --overwrite
	$(IH) contact-sheet $(OUT)/demo/data/InterHand2.6M --split train --out $(OUT)/demo/contact_sheet.png

bench: bench-synth bench-model

bench-synth: $(STAMP)
	$(BIN)/python bench/bench_synth.py

bench-model: $(STAMP)
	$(BIN)/python bench/bench_model.py

clean:
	rm -rf $(OUT)/demo .pytest_cache
