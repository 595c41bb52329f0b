# interhand — every target is a thin call of the `interhand` CLI (see README.md).
# Set-up is automatic: the first target that needs Python builds .venv once; it is rebuilt only when
# pyproject.toml changes (the stamp file's name carries its hash).

PYTHON  ?= python3
VENV    ?= .venv
DATA    ?= data
SHARDS  ?= shards
OUT     ?= output
DATASET ?= interhand26m
SUBSET  ?= all
SPLIT   ?= val
GPUS    ?=
WORKERS ?= $(shell nproc)
SEED    ?= 0
FRAMES  ?= 24
NNODES  ?= 1
NODE_RANK ?= 0
MASTER_ADDR ?= 127.0.0.1
TRAIN_ARGS ?=
GPU_CHECK_DATA ?= $(OUT)/gpu_check_data
GPU_PARTS ?= gpu_parts
GPU_PYTHON ?= 3.12
EVAL_ARGS ?=
DEMO    := $(OUT)/demo

BIN     := $(VENV)/bin
STAMP   := $(VENV)/.stamp-$(shell sha256sum pyproject.toml | cut -c1-16)
IH      := $(BIN)/interhand
# Worker processes of `interhand shards` (empty: its own default).
WORKERS_ARG = $(if $(WORKERS),--workers $(WORKERS))
# InterHand2.6M v1.0 has no human-annotated (H) val split: the H subset is train and test only.
SHARD_SPLITS = $(if $(filter human_annot,$(SUBSET)),train test,train val test)

.PHONY: venv test test-fast demo synth shards verify-shards train eval plot-log bench bench-synth bench-model \
        bench-ingest bench-loader bench-step bench-learn bench-score bench-ann bench-dali-graph bench-scale gpu-check-data gpu-check gpu-parts clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py interhand/loaders/_jpeg_region.c interhand/preprocess/_jpeg_baseline.c \
          interhand/_jpeg_errors.h scripts/install-pillow-simd.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@$(BIN)/python -c "import interhand.loaders.decode as d; d.REGION_DECODING or print('warning: the region JPEG decoder (interhand/loaders/_jpeg_region.c) was not built (needs cc and libjpeg-dev); the CPU loader decodes whole frames')" >&2
	@$(BIN)/python -c "import interhand.preprocess.images as w; w.REENCODING or print('warning: the JPEG re-encoder (interhand/preprocess/_jpeg_baseline.c) was not built (needs cc and libjpeg-dev); interhand shards needs --jpeg source')" >&2
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

shards: $(STAMP)
	for split in $(SHARD_SPLITS); do $(IH) shards --dataset interhand26m --data $(DATA)/InterHand2.6M --annot-subset $(SUBSET) --split $$split --shards $(SHARDS) $(WORKERS_ARG) || exit 1; done

verify-shards: $(STAMP)
	$(IH) verify $(SHARDS) $(WORKERS_ARG)

train: $(STAMP)
	$(IH) train --gpu "$(GPUS)" --dataset $(DATASET) --annot-subset $(SUBSET) --shards $(SHARDS) --run-dir $(OUT) --nnodes $(NNODES) --node-rank $(NODE_RANK) --master-addr $(MASTER_ADDR) $(TRAIN_ARGS)

eval: $(STAMP)
	$(IH) eval --split $(SPLIT) --dataset $(DATASET) --annot-subset $(SUBSET) --shards $(SHARDS) --run-dir $(OUT) --gpu "$(GPUS)" $(EVAL_ARGS)

plot-log: $(STAMP)
	$(IH) plot-log $(OUT)

demo: $(STAMP)
	$(IH) synth $(DEMO)/data/InterHand2.6M --dataset interhand26m --seed $(SEED) --frames $(FRAMES) --overwrite
	$(IH) contact-sheet $(DEMO)/data/InterHand2.6M --split train --out $(DEMO)/contact_sheet.png
	for split in train val; do $(IH) shards --data $(DEMO)/data/InterHand2.6M --split $$split --shards $(DEMO)/shards --shard-samples 64 $(WORKERS_ARG) || exit 1; done
	$(IH) verify $(DEMO)/shards $(WORKERS_ARG)
	$(IH) preview-batch $(DEMO)/shards/interhand26m/all/train --batch-size 8 --out $(DEMO)/batches.png
	rm -rf $(DEMO)/run && $(IH) train --config configs/demo_train.yaml --shards $(DEMO)/shards --run-dir $(DEMO)/run
	$(IH) plot-log $(DEMO)/run
	$(IH) eval --shards $(DEMO)/shards --run-dir $(DEMO)/run --split train --root-source gt --vis 0
	$(IH) eval --shards $(DEMO)/shards --run-dir $(DEMO)/run --split train --root-source gt --baseline mean-pose --vis 0
	$(IH) compare $(DEMO)/run --split train
	$(IH) eval --shards $(DEMO)/shards --run-dir $(DEMO)/run --split val --root-source rootnet --batch-size 16
	$(IH) eval --shards $(DEMO)/shards --run-dir $(DEMO)/run --split val --root-source rootnet --oracle --test-epoch 29 --vis 0
	$(IH) eval --shards $(DEMO)/shards --run-dir $(DEMO)/run --split val --root-source rootnet --baseline mean-pose --vis 0
	$(IH) eval --shards $(DEMO)/shards --run-dir $(DEMO)/run --split val --root-source rootnet --baseline untrained --vis 0
	$(IH) compare $(DEMO)/run --split val
	# the trained model under each named protocol (docs/protocols.md), one row each; the dataset lists the H subset
	# for train and test only, so on val interwild is scored on every frame (interwild:all)
	$(IH) score $(DEMO)/run/result/interhand26m_all_val_rootnet_snapshot_*/predictions.parquet --shards $(DEMO)/shards \
		--protocol internet,mmpose,interwild:all --out-dir $(DEMO)/score

bench: bench-synth bench-ingest bench-loader bench-model bench-step bench-learn bench-score bench-ann bench-dali-graph

bench-synth: $(STAMP)
	$(BIN)/python bench/bench_synth.py

bench-step: $(STAMP)
	$(BIN)/python bench/bench_step.py

bench-ingest: $(STAMP)
	$(BIN)/python bench/bench_ingest.py

bench-loader: $(STAMP)
	$(BIN)/python bench/bench_loader.py

bench-model: $(STAMP)
	$(BIN)/python bench/bench_model.py

bench-learn: $(STAMP)
	$(BIN)/python bench/bench_learn.py

bench-score: $(STAMP)
	$(BIN)/python bench/bench_score.py

# Not part of `make bench`: every job at InterHand2.6M's real size (#31), long. SCALE=1/16,1/4,1 for the full size.
SCALE ?= 1/64,1/16
bench-scale: $(STAMP)
	$(BIN)/python bench/bench_scale.py --scale $(SCALE)

bench-ann: $(STAMP)
	$(BIN)/python bench/bench_ann_member.py

bench-dali-graph: $(STAMP)
	$(BIN)/python bench/bench_dali_graph.py

# The GPU path proven in one call: data made first on the CPUs (gpu-check-data), then gpu-check on one GPU.
gpu-check-data: $(STAMP)
	$(BIN)/python bench/gpu_check.py prepare --data $(GPU_CHECK_DATA) --workers $(WORKERS)

gpu-check: $(STAMP)
	$(BIN)/python bench/gpu_check.py run --data $(GPU_CHECK_DATA) --out $(OUT)/gpu_check

# DALI and its wheels for the GPU machine (Python 3.12, no DALI, no network), xz-packed and split into parts of at
# most 60 MiB that travel one per command (docs/gpu_check.md, "Carrying DALI to the GPU machine"); stdlib and pip
# only.
gpu-parts:
	$(PYTHON) scripts/gpu_parts.py prepare --out $(GPU_PARTS) --python-version $(GPU_PYTHON) --max-part-mb 60

clean:
	rm -rf $(DEMO) .pytest_cache
