"""Worker processes that end with their parent.

A process pool's workers wait on a pipe for their next task; when the parent is killed outright
(``kill -9``, the OOM killer) nothing closes that pipe, and they would wait for ever.
"""

from __future__ import annotations

import os
import time


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
