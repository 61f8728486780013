"""Progress bars for long computations (bootstrap, profiles, power, out-of-core scans).

One helper decides whether and how to show progress:

* ``progress=False`` (or 0): nothing is shown;
* ``progress=True``: always a bar;
* ``progress=None`` (the default of the functions that take it): a bar
  when a person is watching — in a Jupyter kernel, or when stderr is a
  terminal — and nothing in scripts, pipes, logs and CI.

Out-of-core fits count their scans of the data, each named by what it
sums (:class:`ScanBar`). Bars are tqdm's: a
widget in Jupyter when ``ipywidgets`` is installed
(tqdm's notebook bar), else tqdm's text bar on stderr with rate and ETA.
tqdm is imported only when a bar is shown. A single long ``lmer`` /
``glmer`` fit shows its objective evaluations and the elapsed time
(:func:`fit_watch`); small fits are never watched, so their optimizer loop
runs the bare objective. A function that runs another
one's loop (``power_curve`` around ``power_sim``) passes its own bar down
as ``progress=bar`` so that one bar advances over the whole job.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

WATCH_SECONDS = 1.0
"""A fit expected to take at least this long (:func:`expected_fit_seconds`) is watched."""
BAR_DELAY = 2.0
"""A watched fit shows its bar once it has run this long (tqdm's ``delay``)."""
POSTFIX_SECONDS = 0.2
"""How often a scan's own progress (Dask tasks, a DuckDB query's percentage) is redrawn."""

__all__ = [
    "FitWatch",
    "NoBar",
    "ScanBar",
    "evaluation_flops",
    "expected_fit_seconds",
    "fit_watch",
    "in_notebook",
    "interactive",
    "progress_bar",
    "wants_progress",
]


class NoBar:
    """The bar when progress is off: every method does nothing."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def set_description_str(self, desc: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> NoBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter (IPython) kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython without a running shell
        return False
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def interactive() -> bool:
    """A person is watching: a Jupyter kernel, or stderr is a terminal."""
    if in_notebook():
        return True
    err = sys.stderr
    try:
        return bool(err is not None and err.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def wants_progress(progress: Any) -> bool:
    """``progress`` read as above: False/0 off, True on, None on when interactive."""
    if progress is None:
        return interactive()
    return bool(progress)


def _is_bar(progress: Any) -> bool:
    return hasattr(progress, "update") and hasattr(progress, "close")


def _bar_class() -> Any:
    """tqdm's notebook bar in a kernel with ipywidgets, else its text bar (no warning)."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm

            return tqdm
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm


class _Shared:
    """A caller's bar lent to a callee: updates go through, closing is the caller's."""

    def __init__(self, bar: Any):
        object.__setattr__(self, "_bar", bar)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)

    def __setattr__(self, name: str, value: Any) -> None:  # bar.total = ...: the caller's
        setattr(self._bar, name, value)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Shared:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def progress_bar(progress: Any, total: int | None, desc: str, unit: str = "fit") -> Any:
    """A bar over ``total`` steps, or :class:`NoBar` when ``progress`` says no.

    ``progress`` is ``None`` / ``True`` / ``False`` (see the module) or a bar
    given by a caller, which is then advanced and left open. Use as a
    context manager: ``with progress_bar(progress, n, "bootstrap") as bar:
    ... bar.update()``.
    """
    if _is_bar(progress):
        return _Shared(progress)
    if not wants_progress(progress):
        return NoBar()
    return _bar_class()(total=total, desc=desc, unit=unit, leave=True, dynamic_ncols=True,
                        file=sys.stderr)


class ScanBar:
    """A bar over the scans of out-of-core data: one step per scan, named by what it sums.

    A scan is one read of the rows: a DuckDB query over them (a ``GROUP BY``), or one
    Dask computation over every partition. ``with scans.scan("Σ by g"): ...`` shows
    ``"<desc>: Σ by g"`` while the scan runs and advances the bar by one when it ends;
    :meth:`expect` adds planned scans to the total (a scan beyond it raises the total).
    Within a scan the postfix shows how far it is: a Dask scan (``tasks=True``) its
    finished tasks, through ``dask.callbacks.Callback`` (the local schedulers; the
    distributed scheduler has its own dashboard); with ``poll`` (DuckDB's
    ``query_progress``: the percentage of the running query, or −1) that percentage,
    read by a thread every :data:`POSTFIX_SECONDS`. ``progress`` is read as by
    :func:`progress_bar` (a caller's bar is advanced and left open); off, nothing is
    shown and the scans are only counted (:attr:`n`).
    """

    def __init__(self, progress: Any, desc: str, total: int = 0,
                 poll: Callable[[], float] | None = None):
        self.desc = desc
        self.bar = progress_bar(progress, total, desc, unit="scan")
        self.n = 0
        self.poll = poll

    def expect(self, k: int) -> None:
        """``k`` more scans are planned."""
        if getattr(self.bar, "total", None) is not None:
            self.bar.total += k
            getattr(self.bar, "refresh", lambda: None)()

    def label(self, what: str) -> None:
        """Name the current step (a scan, or the fit after them) on the bar."""
        self.bar.set_description_str(f"{self.desc}: {what}")

    @contextlib.contextmanager
    def scan(self, what: str, tasks: bool = False) -> Iterator[None]:
        """One scan, named ``what``: the bar advances by one when the block ends."""
        self.label(what)
        total = getattr(self.bar, "total", None)
        if total is not None and getattr(self.bar, "n", 0) >= total:
            self.expect(1)
        if isinstance(self.bar, NoBar):
            yield
        elif tasks:
            with _task_postfix(self.bar):
                yield
        elif self.poll is not None:
            with _polled_postfix(self.bar, self.poll):
                yield
        else:
            yield
        self.n += 1
        self.bar.update()

    def counted(self, what: str, fn: Callable[[], _T], tasks: bool = False
                ) -> Callable[[], _T]:
        """``fn`` (a scan of the rows, run later if at all) counted as one scan ``what``."""

        def run() -> _T:
            with self.scan(what, tasks):
                return fn()

        return run

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> ScanBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextlib.contextmanager
def _task_postfix(bar: Any) -> Iterator[None]:
    """The finished tasks of the Dask computations inside the block, as ``bar``'s postfix."""
    from dask.callbacks import Callback

    count = {"done": 0, "total": 0}
    shown = [0.0]

    class _Tasks(Callback):  # type: ignore[misc]
        def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
            count["total"] += len(state["finished"]) + sum(
                len(state[k]) for k in ("ready", "waiting", "running"))

        def _posttask(self, *args: Any) -> None:
            count["done"] += 1
            now = time.monotonic()
            if now - shown[0] >= POSTFIX_SECONDS:  # redrawn at most this often
                shown[0] = now
                bar.set_postfix_str(f"{count['done']}/{count['total']} tasks")

    with _Tasks():
        yield
    bar.set_postfix_str("")


@contextlib.contextmanager
def _polled_postfix(bar: Any, poll: Callable[[], float]) -> Iterator[None]:
    """``poll()`` (a percentage, negative when unknown) as ``bar``'s postfix while the block
    runs, read by a thread every :data:`POSTFIX_SECONDS`."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(POSTFIX_SECONDS):
            try:
                pct = float(poll())
            except Exception:  # the query ended (or the connection closed) meanwhile
                return
            if pct >= 0:
                bar.set_postfix_str(f"{pct:.0f}%")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        bar.set_postfix_str("")


def expected_fit_seconds(n_params: int, flops_per_evaluation: float) -> float:
    """A rough time of one fit: evaluations × seconds per evaluation.

    BOBYQA spends about 8 (m + 1)² evaluations on m parameters (its
    quadratic model needs O(m²) points; the polish and the convergence
    check add some); one evaluation costs about 25 µs of interpreter work
    plus its dense work at 2·10¹⁰ flop/s. (Measured on lmer and glmer fits
    of two crossed factors up to 3000 × 1500 levels: within a factor of 2.)
    """
    evaluations = 8.0 * (n_params + 1) ** 2
    return evaluations * (2.5e-5 + float(flops_per_evaluation) / 2e10)


def evaluation_flops(blocks: list[tuple[int, int]], r: int, n_rows: int = 0,
                     pirls_steps: int = 0) -> float:
    """Dense work of one objective evaluation, for :func:`expected_fit_seconds`.

    ``blocks`` are the random-effect terms as (levels, effects per level) and
    ``r`` the order of the rest block (later terms' effects, X and y). An LMM
    evaluation factors the diagonal blocks (Σ_j l_j S_j³) and the rest block
    (r³/3); the rank update between them is taken sparse or dense, whichever
    is cheaper, and is left out. A GLMM evaluation repeats that for each of
    ``pirls_steps`` PIRLS steps, each of which also re-weights the design's
    ``n_rows`` rows into the blocks (≈ 20 n r flops, measured).
    """
    factor = sum(nl * s**3 for nl, s in blocks) + float(r) ** 3 / 3
    if pirls_steps:
        return pirls_steps * (factor + 20.0 * n_rows * r)
    return factor


class FitWatch:
    """Counts the objective evaluations of one fit on a bar (evaluations, elapsed, rate).

    Off (``bar`` None) it changes nothing: :meth:`wrap` returns the function
    itself and :meth:`watching` patches nothing, so an unwatched optimizer
    loop pays no per-evaluation cost.
    """

    def __init__(self, bar: Any = None):
        self.bar = bar

    @property
    def on(self) -> bool:
        return self.bar is not None

    def wrap(self, fn: _F) -> _F:
        """``fn``, advancing the bar once per call when watching."""
        bar = self.bar
        if bar is None:
            return fn

        def counted(*args: Any, **kwargs: Any) -> Any:
            bar.update()
            return fn(*args, **kwargs)

        return counted  # type: ignore[return-value]

    @contextlib.contextmanager
    def watching(self, obj: Any, *methods: str) -> Iterator[None]:
        """Within the block, calls of ``obj``'s named methods advance the bar.

        The counted methods are set on the instance and removed on exit, so
        the class (and every other fit) is untouched.
        """
        if self.bar is None:
            yield
            return
        for name in methods:
            setattr(obj, name, self.wrap(getattr(obj, name)))
        try:
            yield
        finally:
            for name in methods:
                obj.__dict__.pop(name, None)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> FitWatch:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def fit_watch(progress: Any, desc: str, n_params: int, flops_per_evaluation: float) -> FitWatch:
    """The watch of one fit: a bar of its evaluations, or off.

    ``progress=False`` (or a caller's bar: a bootstrap or power loop counts
    whole fits, not evaluations): off. ``progress=True``: a bar from the
    start. ``progress=None``: when a person is watching (:func:`interactive`)
    and the fit is expected to take :data:`WATCH_SECONDS` or more
    (:func:`expected_fit_seconds`); its bar appears after :data:`BAR_DELAY`
    seconds, so a fit that ends sooner shows nothing.
    """
    if progress is None:
        if expected_fit_seconds(n_params, flops_per_evaluation) < WATCH_SECONDS:
            return FitWatch()
        if not interactive():
            return FitWatch()
        delay = BAR_DELAY
    elif progress is True or (not _is_bar(progress) and bool(progress)):
        delay = 0.0
    else:
        return FitWatch()
    bar = _bar_class()(total=None, desc=desc, unit=" evals", leave=True, dynamic_ncols=True,
                       file=sys.stderr, delay=delay)
    return FitWatch(bar)
