"""Log forwarding over ctypes."""

from __future__ import annotations

import logging
import tempfile
import unittest
from pathlib import Path
from typing import List, Tuple

import m365sync
from m365sync import LogLevel


def start_and_stop_an_engine() -> None:
    """Runs an engine against a one-item simulator; the engine logs "engine started"
    at INFO. (The simulator's library logs through a logger of its own.)"""
    with tempfile.TemporaryDirectory() as work, m365sync.Simulator(items=1) as sim:
        config = sim.engine_config(database=str(Path(work) / "log.db"))
        with m365sync.Engine(config) as engine:
            engine.start()
            engine.stop()


class Logging(unittest.TestCase):
    def tearDown(self) -> None:
        m365sync.set_log_callback(None)

    def test_messages_reach_the_callback_and_exceptions_stay_in_python(self) -> None:
        lines: List[Tuple[LogLevel, str, str]] = []

        def callback(level: LogLevel, target: str, message: str) -> None:
            lines.append((level, target, message))
            raise RuntimeError("must not reach C")

        m365sync.set_log_callback(callback, LogLevel.INFO)
        start_and_stop_an_engine()
        started = [line for line in lines if line[2].startswith("engine started")]
        self.assertEqual(len(started), 1, lines)
        self.assertEqual(started[0][0], LogLevel.INFO)
        self.assertTrue(started[0][1].startswith("m365sync::engine"))
        self.assertTrue(all(level <= LogLevel.INFO for level, _, _ in lines))

        m365sync.set_log_callback(None)
        count = len(lines)
        start_and_stop_an_engine()
        self.assertEqual(len(lines), count)

    def test_forward_to_logging(self) -> None:
        m365sync.forward_to_logging(LogLevel.INFO, "m365sync.test")
        with self.assertLogs("m365sync.test", logging.INFO) as logs:
            start_and_stop_an_engine()
        self.assertTrue(any("engine started" in line for line in logs.output), logs.output)


if __name__ == "__main__":
    unittest.main()
