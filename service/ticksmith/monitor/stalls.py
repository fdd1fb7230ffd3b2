"""What held the event loop: the stack of the code running when the loop stalls.

``ticksmith_event_loop_lag_seconds`` says how late the loop ran a timer, not
what kept it busy. Here a task on the loop marks a heartbeat every
``threshold / 4``; a watcher thread checks it as often, and when the loop has not
marked it for longer than the threshold it logs, at WARNING, the main thread's
stack at that moment (the code holding the loop) and counts the stall. One log per
stall; the next heartbeat ends it. The thread runs when the loop holds the GIL in
Python code too: the interpreter hands it the GIL every switch interval (5 ms).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

log = logging.getLogger(__name__)
FRAMES = 12  # innermost frames logged


async def watch_stalls(threshold_s: float, on_stall: Callable[[], None]) -> None:
    """Until cancelled: log what holds the loop whenever it is held over `threshold_s`."""
    period = threshold_s / 4
    beat = [time.monotonic()]
    stop = threading.Event()
    main = threading.get_ident()  # the loop's thread
    watcher = threading.Thread(
        target=_watch,
        args=(beat, stop, main, threshold_s, period, on_stall),
        name="ticksmith-stall-watch",
        daemon=True,
    )
    watcher.start()
    try:
        while True:
            beat[0] = time.monotonic()
            await asyncio.sleep(period)
    finally:
        stop.set()


def _watch(
    beat: list[float],
    stop: threading.Event,
    main: int,
    threshold_s: float,
    period: float,
    on_stall: Callable[[], None],
) -> None:
    reported = None  # the heartbeat whose stall was logged
    while not stop.wait(period):
        last = beat[0]
        held = time.monotonic() - last
        if held > threshold_s + period and last != reported:
            reported = last
            frame = sys._current_frames().get(main)
            stack = "".join(traceback.format_stack(frame)[-FRAMES:]) if frame else "?\n"
            log.warning("event loop held for over %.0f ms, at:\n%s", held * 1000, stack.rstrip())
            on_stall()
