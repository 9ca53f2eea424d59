"""The package version, in a room of its own so that any module can read it without
importing the package face (``ogmbench/__init__.py`` imports the rooms, not the reverse)."""

__version__ = "0.1.0"
