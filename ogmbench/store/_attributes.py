"""The attributes that readers trust (info, show, eval and verify read them; they are not
digested), checked against the arrays and the generation config when a store is opened."""

from __future__ import annotations

import json
import warnings

import numpy as np

from ..errors import StoreError
from ..generators import FAMILIES
from ..seeding import rho_id
from ._digests import EDITED, check_digests, is_sha256
from ._layout import EVERY_SHARD, chunk_grids
from ._metadata import check_metadata
from ._sequences import check_time_coordinates

# Attributes that info, show, eval and verify read, with their types.
_TRUSTED = {"family": str, "noise": str, "config": dict, "digest": str, "shard_digests": dict,
            "family_params": dict, "seed": int, "rho_values": list, "split_fractions": list,
            "samples_per_rho": int, "split_counts_per_rho": dict}

# Provenance attributes that repeat a field of the generation config.
_FROM_CONFIG = {"family": "family", "family_params": "family_params", "noise": "noise",
                "seed": "seed", "rho_values": "rho", "samples_per_rho": "samples_per_rho",
                "split_fractions": "split", "classes": "classes", "size": "size"}


def check_attributes(store, group) -> None:
    """Attributes the readers trust must agree with the arrays (they are not digested).

    ``store`` is a :class:`~ogmbench.store.Store` just opened on the zarr ``group``;
    raises :class:`StoreError`.
    """
    attrs, path = store.attrs, store.path
    for key, kind in _TRUSTED.items():
        if not isinstance(attrs.get(key), kind) or isinstance(attrs.get(key), bool):
            raise StoreError(f"{path} is inconsistent: its attribute {key!r} is "
                             f"{attrs.get(key)!r}, not a {kind.__name__} (its attributes were "
                             "edited after generation; regenerate it)")
    if not is_sha256(attrs["digest"]):
        raise StoreError(f"{path} is inconsistent: its digest {attrs['digest']!r} is not a "
                         "sha256 (its attributes were edited after generation; regenerate it)")
    names = attrs.get("class_names")
    if (not isinstance(names, list) or len(names) != store.classes
            or not all(isinstance(n, str) and n and n.isprintable() for n in names)
            or len(set(names)) != len(names)):
        raise StoreError(f"{path} is inconsistent: class_names {names!r} does not name its "
                         f"{store.classes} classes with distinct printable names (its attributes were edited after generation; "
                         "regenerate it)")
    check_digests(attrs, store.layout.n_shards, path)
    _check_config(store)
    # Before the coordinates: a consistent edit of an attribute and the config is named
    # as such, not by the coordinate it no longer matches.
    check_metadata(path, attrs, chunk_grids(store.layout))
    _check_coordinates(store, group)
    _check_rho_values(store)


def _check_rho_values(store) -> None:
    """The rho values listed in the attributes must be those of the rho array."""
    values = store.attrs.get("rho_values")
    try:
        listed = sorted(set(rho_id(np.asarray(values, dtype=np.float64)).tolist()))
    except (TypeError, ValueError, AttributeError):  # not a list of numbers
        listed = None
    present = sorted(set(rho_id(store.rho).tolist()))
    if listed != present:
        raise StoreError(f"{store.path} is inconsistent: rho_values {values!r} in its attributes, "
                         f"{present} in its rho array (its attributes were edited after generation; "
                         "regenerate it)")


def _check_config(store) -> None:
    """Each attribute that repeats the generation config must equal it there."""
    attrs, config = store.attrs, store.attrs["config"]
    for key, field in _FROM_CONFIG.items():
        if field not in config or attrs.get(key) != config[field]:
            raise StoreError(f"{store.path} is inconsistent: its attribute {key!r} is "
                             f"{attrs.get(key)!r} but its config says {config.get(field)!r} "
                             f"{EDITED}")
    try:  # the values inside too: what info prints and the generator would accept
        canonical = json.loads(json.dumps(FAMILIES[config["family"]].resolve(
            dict(config["family_params"]), int(config["classes"]))))
        rhos = [float(r) for r in config["rho"] if not isinstance(r, bool)]
    except (KeyError, TypeError, ValueError, AttributeError):  # ParamError is a ValueError
        canonical, rhos = None, []
    if canonical != config["family_params"]:
        raise StoreError(f"{store.path} is inconsistent: its family parameters "
                         f"{config['family_params']!r} are not those of a {config['family']!r} "
                         f"store {EDITED}")
    if len(rhos) != len(config["rho"]) or [float(rho_id(r)) for r in rhos] != rhos:
        raise StoreError(f"{store.path} is inconsistent: its rho values {config['rho']!r} are "
                         f"not rho values as generate writes them {EDITED}")
    if attrs.get("frames", 1) != config.get("frames", 1):
        raise StoreError(f"{store.path} is inconsistent: its attribute 'frames' is "
                         f"{attrs.get('frames', 1)!r} but its config says "
                         f"{config.get('frames', 1)!r} {EDITED}")
    if config.get("frames", 1) > 1:  # what Store.warps, info and show read of a sequence
        resolution = float(config["family_params"].get("resolution", 1.0))
        for key, value in (("sequence", config.get("sequence")), ("resolution", resolution)):
            if attrs.get(key) != value:
                raise StoreError(f"{store.path} is inconsistent: its attribute {key!r} is "
                                 f"{attrs.get(key)!r} but its config says {value!r} {EDITED}")
    if attrs["n_samples"] != config["samples_per_rho"] * len(config["rho"]):
        raise StoreError(f"{store.path} is inconsistent: n_samples {attrs['n_samples']!r} is not "
                         f"samples_per_rho x the number of rho values {EDITED}")


def _check_coordinates(store, group) -> None:
    """The class coordinates (what xarray selects by) must name the classes, and a
    sequence's time and axis coordinates be the frames' times and the pose's axes."""
    if store.frames > 1 and not check_time_coordinates(group, store.layout, store.attrs):
        raise StoreError(f"{store.path} is damaged: its 'time' or 'axis' coordinate is not "
                         "what generate wrote for its frames; run "
                         f"'ogmbench verify {store.path}'")
    dims = ("class",) + (("other_class",) if store.classes > 2 else ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        members = set(group.array_keys())
    if not any(dim in members for dim in dims) and store.attrs.get(EVERY_SHARD) is not True:
        return  # written before stores had class coordinates (and before every shard was)
    for dim in dims:
        try:
            values = [str(v) for v in group[dim][:]]
        except Exception:  # missing, or a shard deleted or damaged
            values = None
        if values != store.class_names:
            raise StoreError(f"{store.path} is damaged: its {dim!r} coordinate is {values!r}, "
                             f"not the class names {store.class_names!r}; run "
                             f"'ogmbench verify {store.path}'")
