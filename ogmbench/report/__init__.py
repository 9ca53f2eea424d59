"""The reproduction report: tables (:mod:`.tables`), figures (:mod:`.figures`) and pages
(:mod:`.pages`: tables.md, tables.tex, index.html, README.md)."""

from .pages import write_report
from .markup import Cell, Table
from .tables import build_tables, render_leaderboard

__all__ = ["Cell", "Table", "build_tables", "render_leaderboard", "write_report"]
