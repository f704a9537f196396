"""examples/watcher.py runs to the end against the simulator."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest
from pathlib import Path

import m365sync

ROOT = Path(__file__).resolve().parents[3]


class Watcher(unittest.TestCase):
    def test_watcher_sees_each_created_file(self) -> None:
        env = dict(os.environ)
        # The example imports the package these tests import: the source tree's, or
        # the installed one.
        package_dir = str(Path(m365sync.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_dir, env.get("PYTHONPATH")]))
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "watcher.py"), "--items", "20", "--changes", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,  # a hang guard
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        for path in ("/note-0.txt", "/note-1.txt"):
            self.assertRegex(result.stdout, rf"created\s+{path}")
        self.assertIn("watched", result.stdout)


if __name__ == "__main__":
    unittest.main()
