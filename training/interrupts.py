"""Stop signals during a run: SIGTERM (a time limit, a scheduler) and SIGINT (Ctrl-C).

Inside the training loop the first signal asks the loop to stop after the current step; the
run then saves, calibrates, logs and ends its MLflow run as KILLED. A second signal, or one
outside the loop (evaluation, logging), raises ``Interrupted`` at once, which also ends the
MLflow run as KILLED (``tracking.tracked_run``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_CODES = {"SIGTERM": 143, "SIGINT": 130}  # what a shell reports for either


class Interrupted(Exception):
    """A stop signal that could not wait for the end of a training step."""


class StopRequests:
    """Handles ``SIGNALS`` while ``installed()``: deferred to the loop inside ``deferred()``,
    raised as ``Interrupted`` elsewhere; ``signal`` names the first one received."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._deferring = False
        # run before ``Interrupted`` is raised (e.g. ending the MLflow run as KILLED): an
        # exception raised in a signal handler can land where it is swallowed (a garbage
        # collection callback), and the process is then killed without unwinding
        self.on_interrupt: list[Callable[[], object]] = []

    def _handle(self, number: int, frame) -> None:
        name = signal.Signals(number).name
        if self._deferring and self.signal is None:
            self.signal = name
            print(f"{name}: stopping after this step (send it again to stop at once)", flush=True)
            return
        self.signal = self.signal or name
        for callback in self.on_interrupt:
            callback()
        raise Interrupted(name)

    @contextmanager
    def installed(self):
        """Handle the signals here (only the main thread can; elsewhere this does nothing)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {number: signal.signal(number, self._handle) for number in SIGNALS}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextmanager
    def deferred(self):
        """The first signal in here waits for the loop to see ``signal``."""
        self._deferring = True
        try:
            yield self
        finally:
            self._deferring = False


def ignore_interrupts(_worker_id: int = 0) -> None:
    """For DataLoader workers: Ctrl-C reaches the whole process group, and a worker that
    dies of it would fail the main process's next fetch; the main process decides."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
