#!/usr/bin/env bash
# Run an experiment grid on several GPUs: one `ulrp reproduce` process per GPU, each on its own shard
# (runs whose plan index is I mod N). The first shard that needs an encoder's pre-training does it while the
# others wait on a lock; finished runs are skipped, so the same command resumes an interrupted study.
#
#   scripts/launch_grid.sh CONFIG RUN_ROOT NUM_GPUS [extra ulrp reproduce options]
#   scripts/launch_grid.sh configs/paper_voc.yaml runs/paper_voc 8
#
# Logs: RUN_ROOT/shard{I}of{N}.log. Progress: ulrp reproduce --grid CONFIG --run_root RUN_ROOT --dry_run true
set -euo pipefail
if [[ $# -lt 3 ]]; then
    sed -n '2,9p' "$0"
    exit 2
fi
config=$1 run_root=$2 num_gpus=$3
shift 3
ulrp=${ULRP:-ulrp}
mkdir -p "$run_root"
pids=()
for ((i = 0; i < num_gpus; i++)); do
    CUDA_VISIBLE_DEVICES=$i "$ulrp" reproduce --grid "$config" --run_root "$run_root" \
        --shard "$i/$num_gpus" --device cuda "$@" >"$run_root/shard${i}of${num_gpus}.log" 2>&1 &
    pids+=($!)
    echo "shard $i/$num_gpus on GPU $i: pid $! -> $run_root/shard${i}of${num_gpus}.log"
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit $status
