"""Progress on stderr: a bar on a terminal, a plain line every few minutes in a log."""

from __future__ import annotations

import sys
import time

import click


class EvalBars:
    """One progress bar per estimator on stderr, and status lines.

    Piped or logged (no terminal), a long stage prints a plain line every
    :attr:`EVERY` seconds instead, so a log never sits silent through a training.
    """

    EVERY = 120.0

    def __init__(self):
        self.bar, self.name = None, None
        self.last: dict[str, float] = {}

    def update(self, name: str, done: int, total: int, message: str = "") -> None:
        if not sys.stderr.isatty():
            now = time.monotonic()
            if now - self.last.setdefault(name, now) >= self.EVERY and done < total:
                self.last[name] = now
                click.echo(f"{name}: {done}/{total}" + (f" ({message})" if message else ""),
                           err=True)
            return
        if name != self.name:
            self.close()
            self.bar = click.progressbar(length=total, label=f"{name:<18}", file=sys.stderr)
            self.bar.__enter__()
            self.name, self.done = name, 0
        if message:
            self.bar.label = f"{name:<18} {message}"
        self.bar.update(done - self.done)
        self.done = done

    def log(self, message: str) -> None:
        self.close()
        click.echo(message, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar, self.name = None, None


class LazyBar:
    """A progress bar on stderr, opened at the first update: validation errors come first."""

    def __init__(self, out, total=None):
        # total(): the sample count of a new store (an overwrite is built beside OUT, so
        # OUT's own attributes would name the old one); without it, OUT's are read.
        self.out, self.total, self.bar = out, total, None
        self.done, self.last = 0, time.monotonic()

    def _length(self) -> int:
        from ..store import open_group

        return (self.total() if self.total is not None
                else int(open_group(self.out).attrs["n_samples"]))

    def update(self, n: int) -> None:
        if not sys.stderr.isatty():
            # Logs and pipes: a plain line every few minutes of a long generation.
            self.done += n
            if n and time.monotonic() - self.last >= EvalBars.EVERY:
                self.last = time.monotonic()
                click.echo(f"generating: {self.done}/{self._length()} samples", err=True)
            return
        if self.bar is None:
            self.bar = click.progressbar(length=self._length(), label="generating",
                                         file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
