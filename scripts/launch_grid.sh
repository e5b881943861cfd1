#!/usr/bin/env bash
# Run an experiment grid on several GPUs: one `ulrp reproduce` worker per GPU, all with the same command. The
# workers share the runs (each run is trained by the worker that locks it; a run whose worker dies is taken over);
# the first worker that needs an encoder's pre-training does it while the others wait; finished runs are skipped,
# so the same command resumes an interrupted study, and the last worker to finish writes the report.
#
#   scripts/launch_grid.sh CONFIG RUN_ROOT NUM_GPUS [extra ulrp reproduce options]
#   scripts/launch_grid.sh configs/paper_voc.yaml runs/paper_voc 8
#
# Logs: RUN_ROOT/worker{I}.log. Progress: ulrp reproduce --grid CONFIG --run_root RUN_ROOT --dry_run true
set -euo pipefail
if [[ $# -lt 3 ]]; then
    sed -n '2,10p' "$0"
    exit 2
fi
config=$1 run_root=$2 num_gpus=$3
shift 3
ulrp=${ULRP:-ulrp}
mkdir -p "$run_root"
pids=()
for ((i = 0; i < num_gpus; i++)); do
    CUDA_VISIBLE_DEVICES=$i "$ulrp" reproduce --grid "$config" --run_root "$run_root" \
        --device cuda "$@" >"$run_root/worker${i}.log" 2>&1 &
    pids+=($!)
    echo "worker $i on GPU $i: pid $! -> $run_root/worker${i}.log"
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit $status
