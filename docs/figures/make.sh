#!/usr/bin/env bash
# Regenerates the figures of README's "How realistic is it": the same urban scenes
# (same family, size, rho and seed, so the same clean maps) under the lidar and the
# camera noise models, drawn by `ogmbench show`.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for noise in lidar camera; do
    ogmbench generate "$work/$noise.zarr" --family urban --noise "$noise" --rho 0,1 \
        --samples-per-rho 4 --size 128 --seed 5 >/dev/null
    ogmbench show "$work/$noise.zarr" -n 2 --out "urban-$noise.png" >/dev/null
done
