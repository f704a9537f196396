"""Log forwarding over ctypes."""

from __future__ import annotations

import logging
import unittest
from typing import List, Tuple

import m365sync
from m365sync import LogLevel


class Logging(unittest.TestCase):
    def tearDown(self) -> None:
        m365sync.set_log_callback(None)

    def test_messages_reach_the_callback_and_exceptions_stay_in_python(self) -> None:
        lines: List[Tuple[LogLevel, str, str]] = []

        def callback(level: LogLevel, target: str, message: str) -> None:
            lines.append((level, target, message))
            raise RuntimeError("must not reach C")

        m365sync.set_log_callback(callback, LogLevel.INFO)
        with m365sync.Simulator(items=1):
            pass
        listening = [line for line in lines if "simulator listening on" in line[2]]
        self.assertEqual(len(listening), 1, lines)
        self.assertEqual(listening[0][0], LogLevel.INFO)
        self.assertTrue(listening[0][1].startswith("m365sync::sim"))
        self.assertTrue(all(level <= LogLevel.INFO for level, _, _ in lines))

        m365sync.set_log_callback(None)
        count = len(lines)
        with m365sync.Simulator(items=1):
            pass
        self.assertEqual(len(lines), count)

    def test_forward_to_logging(self) -> None:
        m365sync.forward_to_logging(LogLevel.INFO, "m365sync.test")
        with self.assertLogs("m365sync.test", logging.INFO) as logs:
            with m365sync.Simulator(items=1):
                pass
        self.assertTrue(any("simulator listening on" in line for line in logs.output), logs.output)


if __name__ == "__main__":
    unittest.main()
