"""Progress bars for long computations (bootstrap, profiles, power, out-of-core scans).

One helper decides whether and how to show progress:

* ``progress=False`` (or 0): nothing is shown;
* ``progress=True``: always a bar;
* ``progress=None`` (the default of the functions that take it): a bar
  when a person is watching — in a Jupyter kernel, or when stderr is a
  terminal — and nothing in scripts, pipes, logs and CI.

Out-of-core fits show the passes over the data (DuckDB) or the finished
tasks of the Dask graphs (:func:`dask_progress`). Bars are tqdm's: a
widget in Jupyter when ``ipywidgets`` is installed
(tqdm's notebook bar), else tqdm's text bar on stderr with rate and ETA.
tqdm is imported only when a bar is shown. A function that runs another
one's loop (``power_curve`` around ``power_sim``) passes its own bar down
as ``progress=bar`` so that one bar advances over the whole job.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = [
    "NoBar",
    "dask_progress",
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
        self._bar = bar

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)

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


@contextlib.contextmanager
def dask_progress(progress: Any, desc: str) -> Iterator[None]:
    """A bar over the tasks of every Dask computation run inside the block.

    Dask's local schedulers report each finished task through
    ``dask.callbacks.Callback``; the total grows with each computation's
    graph. (The distributed scheduler has its own dashboard instead.)
    """
    if not (_is_bar(progress) or wants_progress(progress)):
        yield
        return
    from dask.callbacks import Callback

    with progress_bar(progress, 0, desc, unit="task") as bar:

        class _Tasks(Callback):  # type: ignore[misc]
            def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
                pending = sum(len(state[k]) for k in ("ready", "waiting", "running"))
                if hasattr(bar, "total"):
                    bar.total = (bar.total or 0) + pending + len(state["finished"])
                    getattr(bar, "refresh", lambda: None)()

            def _posttask(self, *args: Any) -> None:
                bar.update()

        with _Tasks():
            yield
