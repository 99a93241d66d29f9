"""Worker processes that end with their parent.

A process pool's workers wait on a pipe for their next task; when the parent is killed outright
(``kill -9``, the OOM killer) nothing closes that pipe, and they would wait for ever.
:func:`worker_pool` is the one pool of the batch commands (featurize, separate): its workers end
with their parent and leave Ctrl-C to it.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` ends: the kernel's parent-death signal on Linux,
    else a thread that watches the parent's pid."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        armed = libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent_pid:  # the parent ended before the signal was armed
        os._exit(1)
    if armed:
        return
    import threading

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="vocaltools-parent-watch", daemon=True).start()


def _init_worker(parent_pid: int, initializer: Callable[..., None] | None,
                 initargs: tuple[Any, ...]) -> None:
    """Worker set-up: leave Ctrl-C to the parent, which stops the pool (no traceback per
    worker), end with the parent, then run the pool's own ``initializer``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


@contextlib.contextmanager
def worker_pool(jobs: int, *, initializer: Callable[..., None] | None = None,
                initargs: tuple[Any, ...] = ()) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``jobs`` worker processes (forked where the platform can) that ignore Ctrl-C
    and end with this process, however it ends. Leaving the block by an exception (Ctrl-C, a
    bug) drops the tasks not started yet; those running finish."""
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                             initargs=(os.getpid(), initializer, initargs),
                             mp_context=multiprocessing.get_context(method)) as pool:
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
