"""Where work runs and on how many CPU threads: this process, or a Dask cluster.

ogmbench does not schedule anything itself.  Locally, work runs as it always did (in
this process; ``generate --workers`` in a process pool).  With ``--dask`` the work is
cut into idempotent units -- a store's shard, an estimator's training seed -- that
a Dask ``distributed`` cluster runs: a ``LocalCluster`` (``local`` or ``local:N``), or
a running scheduler by address (started by dask-jobqueue on Slurm/PBS, by
dask-kubernetes, or by hand).  Units return their results; only the client writes
attributes, run records and reports, so a unit that is retried (its worker died) or
run twice writes the same bytes.

Threads: ``--threads N`` is the number of cores a command may use; torch's intra-op
threads and the threads splitting ``predict`` are chosen so that together they never
exceed it (oversubscribed cores are many times slower, not a little).  On a Dask
worker a unit uses that worker's threads.

Dask is an optional extra (``pip install "ogmbench[dask]"``), imported only here and
only when asked for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from .errors import ConfigError, RunFailure, UsageError

__all__ = ["Execution", "UnitLost", "SchedulerLost", "connect", "using", "parse_address",
           "default_threads", "check_threads", "check_workers", "torch_threads", "threads_restored",
           "unit_threads", "fit_malloc"]

ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler (Dask retries a refused connection)
_LOCAL = re.compile(r"local(?::(\d+))?")
# A scheduler: [protocol://]host:port (tcp, tls, inproc, ucx, ws, wss).
_REMOTE = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss|inproc)://)?[\w.\-\[\]:]+:\d+")


class SchedulerLost(RunFailure):
    """The Dask scheduler could not be reached or went away (exit 1; ``--resume``)."""


class UnitLost(RunFailure):
    """A unit's workers died every time it ran (Dask's ``KilledWorker``): handed to the
    caller as the unit's result, so that it fails alone (an estimator, not the run)."""


def default_threads() -> int:
    """The cores this process may run on (its CPU affinity, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_threads(threads: Any, what: str = "threads") -> int:
    """``threads`` as a positive int, or the default; a ConfigError for anything else."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"{what} must be an integer >= 1, got {threads!r}")
    return threads


def check_workers(workers: Any, threads: int | None = None, who: str = "this") -> int:
    """``workers`` as an int in [1, ``threads``]; a ConfigError naming the problem.

    Parameters
    ----------
    workers : int
        Processes or threads asked for.
    threads : int, optional
        The cores the command may use (:func:`check_threads`); None while they are not
        known yet (only ``workers >= 1`` is checked).
    who : str
        Who may use them, for the message ("this", "this run").
    """
    if int(workers) != workers or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers}")
    if threads is not None and workers > threads:
        raise ConfigError(f"workers ({workers}) exceed threads ({threads}), the cores {who} may "
                          "use: ask for fewer workers or more threads")
    return int(workers)


def torch_threads(n: int) -> None:
    """Give torch ``n`` intra-op threads, when torch is in use (never imports it).

    Also sets ``OMP_NUM_THREADS`` for processes started from here (plugins' sandbox
    children), so that they start with the same budget.
    """
    os.environ["OMP_NUM_THREADS"] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)


@contextlib.contextmanager
def threads_restored() -> Iterator[None]:
    """Whatever :func:`torch_threads` sets in the block is undone at its end (a library
    call does not leave the caller's torch on another thread count)."""
    env = os.environ.get("OMP_NUM_THREADS")
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env
        torch = sys.modules.get("torch")
        if torch is not None and before is not None and torch.get_num_threads() != before:
            torch.set_num_threads(before)


def fit_malloc() -> None:
    """Undo, in this process, what Dask's nanny sets for its workers' allocator.

    The nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which turns glibc's
    adaptive mmap threshold off: every tensor over 128 KiB is then mapped and unmapped
    at each training step, and the page faults cost as much as the training (measured: 45%
    of a unit's CPU time in the kernel, a U-Net step 1.8x slower than in a local run).
    Larger blocks from the heap, trimmed only past 256 MiB, are what a local run gets.
    Linux with glibc only; elsewhere nothing is done.
    """
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)   # M_MMAP_THRESHOLD: blocks below 64 MiB from the heap
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD


def unit_threads(default: int) -> int:
    """The threads a unit may use: its Dask worker's, or ``default`` outside Dask."""
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    return default


@dataclass
class Execution:
    """Where a command's units run.

    Attributes
    ----------
    threads : int
        Cores the command may use here (``--threads``).
    client : distributed.Client or None
        None: everything runs locally, as without Dask.
    address : str
        What the user named (``local:2``, ``tcp://host:8786``) for messages.
    """

    threads: int
    client: Any = None
    address: str = ""
    _cluster: Any = field(default=None, repr=False)

    @property
    def dask(self) -> bool:
        """Whether units run on a Dask cluster."""
        return self.client is not None

    def describe(self) -> dict[str, Any]:
        """What a run records of where it ran."""
        if not self.dask:
            return {"where": "local", "threads": self.threads}
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return {"where": f"dask {self.address}", "threads": self.threads,
                "dask_workers": len(workers),
                "dask_threads": sum(int(w.get("nthreads", 0)) for w in workers.values())}

    def offers(self, resource: str) -> bool:
        """Whether any worker of the cluster declares ``resource`` (e.g. ``GPU``)."""
        if not self.dask:
            return False
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return any(resource in (w.get("resources") or {}) for w in workers.values())

    def run(self, function: Callable, units: Sequence[tuple], *, names: Sequence[str],
            keys: Sequence[str] | None = None, resources: dict | None = None,
            ) -> Iterator[tuple[int, Any]]:
        """Run ``function(*unit)`` for every unit on the cluster; yield ``(i, result)``
        as they finish, in any order.

        ``keys`` name the units on the cluster (content-addressed: the same work has
        the same key, and Dask runs a key once); a unit whose worker dies is rerun
        by Dask, and one whose workers die every time yields a :class:`UnitLost`.
        What a unit raises is raised here, naming the unit.  ``resources`` (one dict,
        or one per unit) are what each unit asks of a worker (``{"GPU": 1}``).
        """
        from distributed import as_completed

        futures = {}
        for i, unit in enumerate(units):
            kwargs = {"key": keys[i]} if keys is not None else {}
            asked = resources[i] if isinstance(resources, (list, tuple)) else resources
            future = self.client.submit(function, *unit, pure=False, resources=asked, **kwargs)
            futures[future] = i
        try:
            for future in as_completed(futures):
                i = futures[future]
                if future.status not in ("finished", "error"):  # cancelled or lost
                    raise self._lost(future.status, names[i])
                yield i, self._result(future, names[i])
                future.release()
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()

    def _result(self, future, name: str) -> Any:
        if future.status != "error":
            return future.result()
        exc = future.exception()
        if type(exc).__name__ == "KilledWorker":
            return UnitLost(f"its Dask workers died each time it ran ({exc}); see the "
                            "workers' logs (out of memory?)")
        if isinstance(exc, (RunFailure, UsageError)):
            raise exc
        raise RunFailure(f"{name} failed on a Dask worker: {type(exc).__name__}: {exc}")

    def _lost(self, status: str, name: str) -> SchedulerLost:
        return SchedulerLost(f"the Dask scheduler at {self.address} went away while {name} "
                             f"ran (the unit is {status}); what finished is kept: rerun the "
                             "same command (eval: with --resume)")

    def close(self) -> None:
        """Disconnect; a cluster started here (``local``) is shut down."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
        self.client = self._cluster = None


def parse_address(dask: str | None, where: str = "--dask") -> str | None:
    """The Dask address to use: ``dask`` itself, else ``$DASK_SCHEDULER_ADDRESS``, else
    None (local).  ``local`` and ``local:N`` start a LocalCluster of N worker processes.
    ``where`` names the value in messages (the flag, or a benchmark file's key)."""
    if dask is None:
        dask = os.environ.get(ENV_ADDRESS) or None
        if dask is None:
            return None
        where = f"${ENV_ADDRESS}"
    text = str(dask).strip()
    if not text:
        raise ConfigError(f"{where} is empty; give local, local:N or a scheduler address "
                          "(tcp://host:8786)")
    match = _LOCAL.fullmatch(text)
    if match and match.group(1) is not None and int(match.group(1)) < 1:
        raise ConfigError(f"{where} {text}: the number of workers must be >= 1")
    if not match and not _REMOTE.fullmatch(text):
        raise ConfigError(f"{where} {text!r} is neither local, local:N nor a scheduler "
                          "address (tcp://host:8786)")
    port = re.search(r":(\d+)/?$", text) if not match else None
    if port and not 0 < int(port.group(1)) < 65536:
        raise ConfigError(f"{where} {text}: port {port.group(1)} is not in 1-65535")
    if not match:
        _check_scheme(text, where)
    return text


def _check_scheme(text: str, where: str) -> None:
    """Refuse, as a usage error, an address Dask itself cannot use from here (malformed,
    or a transport this machine is not set up for), before anything connects: at the
    connection such an error would look like a peer speaking another protocol."""
    try:
        from distributed.comm import parse_address as split, registry
        from distributed.comm.addressing import parse_host_port
    except ImportError:
        return  # connect() says that --dask needs Dask
    try:
        scheme, place = split(text)
        registry.get_backend(scheme)
        if scheme != "inproc":
            parse_host_port(place)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where} {text!r} is not a scheduler address Dask can use "
                          f"({exc})") from None
    import dask
    import importlib.util

    needs = {"inproc": "a scheduler in this very process (inproc://): give its tcp:// address",
             "ucx": "UCX (ucx-py), which is not installed here" if not any(
                 importlib.util.find_spec(m) for m in ("ucp", "ucxx")) else None,
             "tls": "Dask's TLS settings (distributed.comm.tls in the Dask config)"
             if not dask.config.get("distributed.comm.tls.client.cert", None) else None}
    needs["wss"] = needs["tls"]
    if needs.get(scheme):
        raise ConfigError(f"{where} {text}: {scheme}:// needs {needs[scheme]}")


def _check_cores(threads: int) -> None:
    """Refuse more threads than this process's cores for work done in it: they only make
    each other wait (measured: torch's threads 9x slower beside another heavy process).
    A local cluster may ask for more workers than cores (the tests do, to show the bytes
    do not depend on it)."""
    cores = default_threads()
    if threads > cores:
        raise ConfigError(f"--threads {threads} exceeds the {cores} cores this command may run "
                          "on here")


def _client(distributed, address: str):
    """A client of the scheduler at ``address``, or :class:`SchedulerLost` within about
    :data:`CONNECT_TIMEOUT` seconds: Dask's own timeout does not cover a peer that accepts
    the connection and then never answers, nor one that answers in another protocol."""
    box: dict[str, Any] = {}

    def reach():
        try:
            box["client"] = distributed.Client(address, timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError) as exc:
            box["lost"] = str(exc)
        except Exception:  # garbage read as Dask frames: MemoryError, struct.error, ...
            # (which one says nothing about the peer, only about the bytes it sent)
            box["lost"] = "something answers there, but not in Dask's protocol"

    thread = threading.Thread(target=reach, name="ogmbench-dask-connect", daemon=True)
    thread.start()
    thread.join(2 * CONNECT_TIMEOUT)
    if thread.is_alive():
        raise SchedulerLost(f"cannot reach the Dask scheduler at {address}: it accepted the "
                            f"connection but did not answer as Dask in {2 * CONNECT_TIMEOUT:g} s")
    if "lost" in box:
        raise SchedulerLost(f"cannot reach the Dask scheduler at {address}: {box['lost']}")
    return box["client"]


@contextlib.contextmanager
def connect(dask: str | None = None, threads: int | None = None) -> Iterator[Execution]:
    """The :class:`Execution` of a command, closed at the end of the block.

    Parameters
    ----------
    dask : str, optional
        None (or unset ``$DASK_SCHEDULER_ADDRESS``): local.  ``local`` or ``local:N``:
        a LocalCluster of N worker processes (default: one per thread, at most one
        per core here) sharing ``threads`` between them (N may not exceed it).  Anything else: the address of a running
        scheduler (``tcp://host:8786``).
    threads : int, optional
        Cores the command may use (default :func:`default_threads`).

    Raises
    ------
    ConfigError
        A malformed address or thread count, or Dask not installed (exit 2).
    SchedulerLost
        The scheduler cannot be reached (exit 1).
    """
    threads = check_threads(threads)
    address = parse_address(dask)
    if address is None:
        _check_cores(threads)
        yield Execution(threads)
        return
    try:
        import distributed
    except ImportError:
        raise ConfigError("--dask needs Dask: pip install \"ogmbench[dask]\"") from None
    # Dask's own chatter (worker start and stop, a rescheduled task) is not the user's
    # business; a failure reaches the user as one line from here.
    for name in ("distributed", "distributed.worker", "distributed.scheduler",
                 "distributed.nanny", "distributed.core", "distributed.client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    cluster = None
    match = _LOCAL.fullmatch(address)
    # local: one single-threaded worker per thread, and never more than the cores here.
    workers = int(match.group(1)) if match and match.group(1) else min(threads,
                                                                        default_threads())
    if match and workers > threads:
        raise ConfigError(f"--dask {address} starts {workers} workers, more than the "
                          f"{threads} threads this may use (--threads)")
    try:
        if match:
            # No memory limit: a worker is not killed for what the same work takes in a
            # local run (Dask's default is the machine's memory / N per worker).
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=threads // workers, memory_limit=0,
                processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL)
            client = distributed.Client(cluster)
        else:
            client = _client(distributed, address)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise SchedulerLost(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    except ValueError as exc:  # an address Dask cannot parse
        raise ConfigError(f"--dask {address}: {exc}") from None
    execution = Execution(threads, client, address, cluster)
    try:
        yield execution
    finally:
        execution.close()


@contextlib.contextmanager
def using(dask: "str | Execution | None" = None, threads: int | None = None
          ) -> Iterator[Execution]:
    """An Execution already made (kept open: its maker closes it) or one made by
    :func:`connect` for the block; ``threads`` must agree with a given one's."""
    if isinstance(dask, Execution):
        if threads is not None and check_threads(threads) != dask.threads:
            raise ConfigError(f"threads={threads} differs from the execution's {dask.threads}")
        yield dask
        return
    with connect(dask, threads) as execution:
        yield execution
