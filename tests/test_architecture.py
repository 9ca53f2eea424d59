"""The import contract of docs/ARCHITECTURE.md, read from the source (every import, also
the ones inside functions): rooms in a fixed order with every arrow pointing down, so no
cycle; generators import nothing of the core; baselines reach the core only through
ogmbench.api; pandas, zarr, torch and click each stay in their rooms."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"ogmbench": ROOT / "ogmbench", "ogmbench.generators": ROOT / "generators",
                "ogmbench.baselines": ROOT / "baselines"}

# The core, bottom to top: a module may import only modules listed before it.
LAYERS = [
    "ogmbench._version", "ogmbench.errors", "ogmbench.names", "ogmbench.places",
    "ogmbench.locks",
    "ogmbench.sandbox", "ogmbench.execution",
    "ogmbench.seeding", "ogmbench.metrics", "ogmbench.curves", "ogmbench.api", "ogmbench.store",
    "ogmbench.registry", "ogmbench.specs", "ogmbench.config",
    "ogmbench.generate", "ogmbench.info", "ogmbench.calibration", "ogmbench.show", "ogmbench.torch_data",
    "ogmbench.testing", "ogmbench.runs", "ogmbench.tuning",
    "ogmbench.evaluate", "ogmbench.leaderboard", "ogmbench.benchmark", "ogmbench.results",
    "ogmbench.report.tables", "ogmbench.report.figures", "ogmbench.report.pages",
    "ogmbench.report", "ogmbench.reproduce", "ogmbench.cli",
    "ogmbench", "ogmbench.__main__",
]

# Third-party packages confined to some rooms (prefixes of module names).
CONFINED = {
    "pandas": ("ogmbench.leaderboard", "ogmbench.results", "ogmbench.report"),
    "zarr": ("ogmbench.store",),
    # api.resolve_device asks torch for a GPU, only once torch is imported or cuda asked.
    "torch": ("ogmbench.torch_data", "ogmbench.baselines.nets", "ogmbench.api"),
    "click": ("ogmbench.cli",),
    # Dask is an optional extra: one room starts or joins a cluster.
    "dask": ("ogmbench.execution",),
    "distributed": ("ogmbench.execution",),
    # Object storage: one room names places; the cloud libraries come through fsspec.
    "fsspec": ("ogmbench.places",),
    "s3fs": (),
}


def module_files():
    out = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    # ogmbench.generators and ogmbench.baselines are not under ogmbench/ on disk.
    return out


MODULES = module_files()


def imports_of(name: str) -> set[str]:
    """Absolute names of everything ``name`` imports, wherever in the file."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            for alias in node.names:
                # "from . import metrics" imports the room ogmbench.metrics.
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in MODULES else module)
    return found


def core(name: str) -> bool:
    return name.startswith("ogmbench") and not name.startswith(
        ("ogmbench.generators", "ogmbench.baselines"))


def test_every_core_module_has_a_place_in_the_layers():
    assert sorted(m for m in MODULES if core(m)) == sorted(LAYERS)


@pytest.mark.parametrize("name", LAYERS)
def test_core_arrows_point_down(name):
    below = set(LAYERS[:LAYERS.index(name)])
    upward = sorted(m for m in imports_of(name) if core(m) and m in MODULES and m not in below)
    assert not upward, f"{name} imports {upward}, which are not below it"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("ogmbench.generators")])
def test_generators_import_nothing_of_the_core(name):
    reached = sorted(m for m in imports_of(name)
                     if m.startswith("ogmbench") and not m.startswith("ogmbench.generators"))
    assert not reached, f"{name} imports {reached}"


@pytest.mark.parametrize("name", [m for m in MODULES if m.startswith("ogmbench.baselines")])
def test_baselines_reach_the_core_only_through_the_api(name):
    reached = sorted(m for m in imports_of(name) if m.startswith("ogmbench")
                     and not m.startswith("ogmbench.baselines") and m != "ogmbench.api")
    assert not reached, f"{name} imports {reached}"


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_libraries_stay_in_their_rooms(library):
    owners = CONFINED[library]
    outside = sorted(m for m in MODULES
                     if not m.startswith(owners)
                     and any(i == library or i.startswith(library + ".") for i in imports_of(m)))
    assert not outside, f"{library} is imported by {outside}, outside {owners}"


def test_no_room_imports_the_package_face():
    # The face (ogmbench/__init__.py) imports the rooms; a room importing it would make a
    # cycle that works only by line order.
    users = sorted(m for m in MODULES if m != "ogmbench.__main__" and "ogmbench" in imports_of(m)
                   and m != "ogmbench")
    assert not users


def test_the_contract_reader_sees_imports_inside_functions():
    # Guards the reader itself: reproduce imports run_eval at the top and cli imports
    # rooms inside its commands.
    assert "ogmbench.evaluate" in imports_of("ogmbench.reproduce")
    assert "ogmbench.reproduce" in imports_of("ogmbench.cli")
    assert "ogmbench.report.tables" in imports_of("ogmbench.cli")
