#!/usr/bin/env bash
# Prepare, on a machine with PyPI, what the sparse SDF's GPU measurement carries to a lent GPU
# machine (no network there; Python 3.12 with numpy, scipy, numba and torch, no Warp):
#   .gpu-carry/site.tar.xz   warp-lang 1.5.0 without its CPU compiler (warp-clang.so), examples
#                            and tests: 37 MiB. The current wheel (149 MB) and 1.5.0's own
#                            (85 MB) are over the device tool's 64 MiB per call; 1.2.x cannot
#                            read `from __future__ import annotations` kernels.
#   .gpu-carry/wheels/       trimesh, fpsample, libigl (the yardstick) for CPython 3.12
#   .gpu-carry/corpus/       fandisk, bunny_ply, beast from ../shared/corpus, with manifest.csv
# Then, with the device tool: run(command="bash benchmarks/device/sparse_sdf_gpu.sh",
#                                 carry=[".gpu-carry"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")/../.."
CARRY=.gpu-carry
CORPUS=${CORPUS:-../shared/corpus}
rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/corpus"
get() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$1" "$2"
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
get "$scratch" warp-lang==1.5.0
python3 -m zipfile -e "$scratch"/warp_lang-1.5.0-*.whl "$scratch/site"
rm -rf "$scratch/site/warp/bin/warp-clang.so" "$scratch/site/warp/examples" \
  "$scratch/site/warp/tests"
tar -C "$scratch/site" -cJf "$CARRY/site.tar.xz" warp
for wheel in trimesh==5.2.0 fpsample==0.3.3 libigl==2.6.3; do get "$CARRY/wheels" "$wheel"; done
head -1 "$CORPUS/manifest.csv" > "$CARRY/corpus/manifest.csv"
for name in fandisk bunny_ply beast; do
  row=$(grep "^$name," "$CORPUS/manifest.csv")
  echo "$row" >> "$CARRY/corpus/manifest.csv"
  cp "$CORPUS/$(echo "$row" | cut -d, -f2)" "$CARRY/corpus/"
done
du -sh "$CARRY"
