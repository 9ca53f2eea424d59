"""The table model of the report and its renderers: Markdown, booktabs LaTeX and HTML.

This is the only LaTeX writer of ogmbench.  A :class:`Table` is a title, a note, header
cells and rows of :class:`Cell`; what a report's tables hold is :mod:`.tables`' job.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Cell", "Table"]


@dataclass
class Cell:
    text: str
    value: float | None = None  # what the HTML table sorts by
    bold: bool = False


@dataclass
class Table:
    """A rendered-agnostic table: a title, a note, header cells and rows of cells."""

    key: str
    title: str
    note: str
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)

    def markdown(self) -> str:
        def text(cell):
            body = cell.text.replace("|", "\\|")
            return f"**{body}**" if cell.bold and body else body

        lines = [f"**{self.title}**", "", self.note, "",
                 "| " + " | ".join(self.header) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(self.header) - 1)) + "|"]
        lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def latex(self) -> str:
        def esc(s):
            s = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in s)
            return s.replace("±", r"$\pm$").replace("ρ", r"$\rho$").replace("Δ", r"$\Delta$")

        def text(cell):
            return rf"\textbf{{{esc(cell.text)}}}" if cell.bold and cell.text else esc(cell.text)

        cols = "l" + "r" * (len(self.header) - 1)
        lines = [rf"% {esc(self.title)}: {esc(self.note)}", r"\begin{table}[t]", r"\centering",
                 rf"\caption{{{esc(self.title)}. {esc(self.note)}}}",
                 rf"\label{{tab:{self.key}}}", r"\small", rf"\begin{{tabular}}{{{cols}}}",
                 r"\toprule", " & ".join(esc(h) for h in self.header) + r" \\", r"\midrule"]
        lines += [" & ".join(text(c) for c in row) + r" \\" for row in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f'<th scope="col" tabindex="0">{html.escape(h)}</th>' for h in self.header)
        body = []
        for row in self.rows:
            cells = []
            for i, cell in enumerate(row):
                finite = cell.value is not None and np.isfinite(cell.value)
                value = f' data-value="{cell.value:.10g}"' if finite else ""
                text = html.escape(cell.text)
                text = f"<strong>{text}</strong>" if cell.bold and text else text
                tag = "th" if i == 0 else "td"
                cells.append(f"<{tag}{value}>{text}</{tag}>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (f'<table class="sortable" id="{self.key}">\n'
                f"<caption><strong>{html.escape(self.title)}.</strong> {html.escape(self.note)}"
                f"</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
                + "\n</tbody>\n</table>")


_LATEX_ESCAPES = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}"}
