#!/bin/bash
# The whole chain on a small synthetic dataset with one checkout's code, and the SHA-256 of every file it writes:
# what a refactor must leave byte-identical (shards, snapshots, metrics.json, per-sample and prediction files, the
# score, compare and predict outputs). Timing lines (report.txt, logs) differ between any two runs; before #29,
# dataset.json's command_line did too (argv[0] was the checkout's path).
#   bash scripts/pipeline_fingerprint.sh OLD_CHECKOUT /tmp/old > old.sha
#   bash scripts/pipeline_fingerprint.sh .            /tmp/new > new.sha
#   diff <(awk '{print $1, $2}' old.sha) <(awk '{print $1, $2}' new.sha)
# PYTHON (default: this checkout's .venv) runs both; each checkout needs its C extensions built (make venv).
set -e
TREE=$(cd "$1" && pwd); O=$2
export PYTHONPATH=$TREE OMP_NUM_THREADS=1
PY=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
IH="$PY -m interhand"
rm -rf $O && mkdir -p $O && cd $O
$IH synth data/InterHand2.6M --dataset interhand26m --seed 0 --frames 24 >/dev/null 2>&1
$IH synth data/STB --dataset stb --seed 0 --frames 24 >/dev/null 2>&1
for s in train val; do $IH shards --data data/InterHand2.6M --split $s --shards shards --shard-samples 64 --workers 1 >/dev/null 2>&1; done
$IH shards --dataset stb --data data/STB --split test --shards shards --workers 1 >/dev/null 2>&1
$IH verify shards >/dev/null 2>&1
cat > train.yaml <<Y
epochs: 2
steps_per_epoch: 3
log_every: 1
model: {resnet_type: 18, input_size: 64, heatmap_size: 16, init: kaiming, heatmap_gain: 64}
loader: {batch_size: 8, workers: 0, augment: true}
Y
$IH train --config train.yaml --shards shards --run-dir run >/dev/null 2>&1
$IH eval --shards shards --run-dir run --split val --root-source gt --vis 2 >/dev/null 2>&1
$IH eval --shards shards --run-dir run --split val --root-source rootnet --baseline mean-pose --vis 0 >/dev/null 2>&1
$IH eval --shards shards --run-dir run --split val --root-source rootnet --oracle --vis 0 >/dev/null 2>&1
$IH compare run --split val > compare.txt 2>&1
$IH score run/result/interhand26m_all_val_gt_snapshot_1/predictions.parquet --shards shards --out-dir score --vis 1 --protocol all,interacting > score.txt 2>&1
IMG=$(ls data/InterHand2.6M/images/val/*/*/*/*.jpg | head -1)
$IH predict --checkpoint run/model_dump/snapshot_1.pth.tar --image $IMG --bbox 10,10,60,60 --out-dir predict > predict.json 2>&1
find . -type f ! -path './data/*' ! -name '*.log' ! -name 'train_log.jsonl' ! -name '*.lock' ! -name '.lock' | sort | xargs sha256sum
