#!/usr/bin/env bash
# The GPU check on the borrowed GPU machine, as the third of three back-to-back commands (docs/gpu_check.md, "Carrying DALI to
# the GPU machine"): parts 1 and 2 are in the stash; this receives part 3, installs DALI, builds the C extensions
# where a compiler and the libjpeg headers exist, makes the data on the machine's cores and runs the check with the
# machine's own python3 and torch. One command, under 10 minutes: install ~0.5 min, data ~1-2 min, check 5 min at
# most. Exit codes: gpu_parts.py's (3: the machine went cold, restart from part 1), else the check's (0: all ok).
# The check works in WORK (/tmp); OUT_DIR receives only the few files worth bringing back (the device tool returns
# at most 8): the report (JSON and table), the GPU parity figures, the loss curve, DALI's install line.
#
#   bash scripts/gpu_check_device.sh OUT_DIR        # carry gpu_parts/manifest.json and gpu_parts/part-3.bin
#   bash scripts/gpu_check_device.sh OUT_DIR --dry-run   # here: the same steps on the CPU twins, DALI from the parts
#   bash scripts/gpu_check_device.sh OUT_DIR --dry-run --skip-parts   # ... with the DALI already importable
# PARTS_DIR, STASH, TARGET, DATA and WORK override where the parts are carried, kept, installed and used (the test
# of the dry run puts them in its temporary folder). The last part's number is read from the carried manifest.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: gpu_check_device.sh OUT_DIR [--dry-run] [--skip-parts]}
shift
DRY_RUN="" SKIP_PARTS=""
for argument in "$@"; do
  case $argument in
    --dry-run) DRY_RUN=--dry-run ;;
    --skip-parts) SKIP_PARTS=1 ;;  # DALI is already importable (this machine's venv)
    *) echo "gpu_check_device.sh: unknown option $argument" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3}
PARTS_DIR=${PARTS_DIR:-gpu_parts} STASH=${STASH:-/tmp/interhand_gpu_parts} TARGET=${TARGET:-/tmp/interhand_dali}
DATA=${DATA:-/tmp/interhand_gpu_check_data}
WORK=${WORK:-/tmp/interhand_gpu_check}
mkdir -p "$OUT" "$WORK"
bring_back() {
  for file in gpu_check.json gpu_check.txt gpu_parity.json train_loss.png; do
    [ -f "$WORK/check/$file" ] && cp "$WORK/check/$file" "$OUT/"
  done
  return 0
}
trap bring_back EXIT
if [ -z "$SKIP_PARTS" ]; then
  LAST=$("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["parts"]))' "$PARTS_DIR/manifest.json") \
    || { echo "gpu_check_device.sh: $PARTS_DIR/manifest.json not carried or not readable" >&2; exit 2; }
  "$PYTHON" scripts/gpu_parts.py receive "$LAST" --parts-dir "$PARTS_DIR" --stash "$STASH" || exit $?
  "$PYTHON" scripts/gpu_parts.py install --stash "$STASH" --target "$TARGET" > "$OUT/dali_install.json" || exit $?
  export PYTHONPATH="$TARGET:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PYTHON" setup.py -q build_ext --inplace > "$WORK/build_ext.log" 2>&1; then
  echo "the C extensions were not built: whole-frame decoding, source shards only; $(tail -1 "$WORK/build_ext.log")" >&2
fi
"$PYTHON" bench/gpu_check.py prepare --data "$DATA" --workers "$(nproc)" $DRY_RUN || exit 1
"$PYTHON" bench/gpu_check.py run --data "$DATA" --out "$WORK/check" $DRY_RUN
