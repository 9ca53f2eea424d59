#!/usr/bin/env bash
# Regenerates the figures of README's "Noise models" and "How realistic is it": the same
# BEV-scale urban scenes (100 m x 100 m at 0.5 m; same family, classes, size, rho and
# seed, so the same clean maps) under the lidar and the camera noise models, and all
# five classes of two scenes, drawn by `ogmbench show`.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for noise in lidar camera; do
    ogmbench generate "$work/$noise.zarr" --family urban --classes vehicle,drivable,walkway \
        --noise "$noise" --rho 0,1 --samples-per-rho 4 --size 200 --seed 5 >/dev/null
    ogmbench show "$work/$noise.zarr" -n 2 --out "urban-$noise.png" >/dev/null
done
ogmbench generate "$work/classes.zarr" --family urban \
    --classes vehicle,drivable,walkway,ped_crossing,pedestrian --noise camera --rho 1 \
    --samples-per-rho 4 --size 200 --seed 5 >/dev/null
ogmbench show "$work/classes.zarr" -n 2 --out urban-classes.png >/dev/null
