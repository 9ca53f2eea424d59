"""Settings and readers shared by the store and generate tests."""

import zarr

SMALL = dict(family="field", noise="gaussian:sigma=0.4", rho=[-0.5, 0.0, 0.9],
             samples_per_rho=10, size=(16, 24), seed=3)


def arrays(store):
    """Every sample-indexed array of a store, read directly with zarr."""
    group = zarr.open_group(str(store.path), mode="r")
    return {name: group[name][:] for name in ("clean", "noisy", "rho", "phi", "split")}
