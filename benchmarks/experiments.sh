#!/usr/bin/env bash
# The experiments of docs/experiments.md: GA against random search at equal budget, and the
# all-zero start, with the train fitness (the default `fast` recipe), several seeds; then the
# best structure each run found, retrained at 5x the epochs (two seeds) to see which search
# found the better network rather than the luckier evaluation.
#
#   benchmarks/experiments.sh digits  RUNS_DIR [SEEDS] [ZERO_SEEDS]
#   benchmarks/experiments.sh fashion RUNS_DIR [SEEDS] [ZERO_SEEDS]
#
# Each finished run is skipped on a second call (a stopped call resumes where it was). Reports go
# to RUNS_DIR/<set>-report (genet-lab report) and RUNS_DIR/<set>-retrain.tsv (RETRAIN=0: no retraining).
set -euo pipefail
set_name=${1:?digits or fashion}
root=${2:?runs folder}
seeds=${3:-5}
zero_seeds=${4:-3}
gl=${GENET_LAB:-genet-lab}

case $set_name in
  digits)  # evolve's defaults: N=10, T=10, all 1,150 images, 6 epochs, batch 32
    common=(); ref_epochs=30 ;;
  fashion) # Debian's copy; 2,000 training images, 2 epochs at batch 32, N=8, T=4 (40 evaluations per run).
           # Batch 32, not the trainer's 128 for Fashion-MNIST: 2 epochs at 128 are 30 SGD steps, and
           # the same genome then scores 16-49% (docs/experiments.md)
    common=(--dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist --train-size 2000
            --val-size 2000 --epochs 2 --batch-size 32 -N 8 -T 4); ref_epochs=10 ;;
  *) echo "experiments.sh: unknown set '$set_name' (accepted: digits, fashion)" >&2; exit 2 ;;
esac
runs=$root/$set_name
mkdir -p "$runs"

field() {  # field(dir key): one field of `genet-lab report --json` for one run
  local tmp; tmp=$(mktemp -d)
  "$gl" report "$1" --json --no-plots --out "$tmp" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
  rm -rf "$tmp"
}

one() {  # one(kind dir args...): run or resume, skip when finished
  local kind=$1 dir=$2; shift 2
  if [ -f "$dir/run.sqlite" ]; then
    if [ "$(field "$dir" state)" = finished ]; then return; fi
    "$gl" "$kind" --resume "$dir" --json > /dev/null
  else
    "$gl" "$kind" "${common[@]}" "$@" --run-dir "$dir" --json > /dev/null
  fi
  echo "$(date -u +%H:%M:%S) done $dir" >&2
}

for s in $(seq 1 "$seeds"); do
  one evolve "$runs/ga-s$s" --seed "$s"
  one random-search "$runs/rs-s$s" --seed "$s"
done
for s in $(seq 1 "$zero_seeds"); do
  one evolve "$runs/ga-zeros-s$s" --seed "$s" --init zeros
done
"$gl" report "$runs" --out "$root/$set_name-report" > /dev/null

# retrain each run's best structure at ref_epochs, two seeds (data options as in the search);
# RETRAIN=0 skips this part
[ "${RETRAIN:-1}" = 0 ] && exit 0
data_opts=()
[ "$set_name" = fashion ] && data_opts=(--dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
                                        --train-size 2000 --val-size 2000 --batch-size 32)
out=$root/$set_name-retrain.tsv
printf 'run\tbest\tseed\tval_accuracy\n' > "$out"
for dir in "$runs"/*/; do
  dir=${dir%/}
  best=$(field "$dir" best)  # the structure with the best (averaged) fitness: the search's answer
  for seed in 101 102; do
    acc=$("$gl" train "$best" "${data_opts[@]}" --epochs "$ref_epochs" --seed "$seed" --threads 1 --json | tail -n 1 \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["val_accuracy"])')
    printf '%s\t%s\t%s\t%s\n' "$(basename "$dir")" "$best" "$seed" "$acc" >> "$out"
  done
done
echo "$(date -u +%H:%M:%S) wrote $root/$set_name-report and $out" >&2
