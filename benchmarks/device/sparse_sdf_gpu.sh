#!/usr/bin/env bash
# On a lent GPU machine, after benchmarks/device/pack_sparse_sdf.sh here: the sparse SDF at
# 1024³ on the GPU and on that machine's CPUs, side by side in one run (issue 17's cost
# target), with libigl as the yardstick. About 4-6 minutes, most of it compiling (numba, then
# Warp's kernels for sm_90) and the CPU rows. Whole logs in $OUT/sparse_sdf_<device>.log.
# RES (default 1024) and DEVICES (default "cuda cpu") change what it runs.
set -euo pipefail
SITE=/tmp/site
mkdir -p "$SITE"
tar -C "$SITE" -xJf .gpu-carry/site.tar.xz
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
  .gpu-carry/wheels/*.whl
export PYTHONPATH="$PWD/src:$SITE" PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nproc
out=${OUT:-/tmp}
for device in ${DEVICES:-cuda cpu}; do  # one failing device does not stop the other
  python3 benchmarks/_sparse_sdf_bench.py --corpus .gpu-carry/corpus --sdf-device "$device" \
    --sdf-res "${RES:-1024}" > "$out/sparse_sdf_$device.log" 2>&1 || echo "$device: failed"
  grep -v "^Module \|^   " "$out/sparse_sdf_$device.log" | tail -n 40
done
