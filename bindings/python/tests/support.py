"""Helpers shared by the binding tests."""

from __future__ import annotations

import os
import tempfile
import time
import unittest
from typing import Callable

import m365sync

#: A hang guard, not a timing expectation.
WAIT_SECONDS = 60.0


def wait_until(what: str, done: Callable[[], bool]) -> None:
    """Polls `done` until it holds; fails after a minute."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class SimTestCase(unittest.TestCase):
    """A test with a fresh simulator and a temporary directory for stores."""

    sim_settings: dict = {"items": 10, "seed": 5}

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.sim = m365sync.Simulator(self.sim_settings)
        self.addCleanup(self.sim.close)

    def engine(self, **extra: object) -> m365sync.Engine:
        """An engine (not started) mirroring the simulator, closed after the test."""
        settings = {"database": os.path.join(self.tmp.name, "engine.db"), "poll_interval_secs": 1, "workers": 2}
        settings.update(extra)
        engine = m365sync.Engine(self.sim.engine_config(**settings))
        self.addCleanup(engine.close)
        return engine
