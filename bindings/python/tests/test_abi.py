"""The bindings agree with the C header and the library."""

from __future__ import annotations

import re
import unittest
from pathlib import Path

import m365sync
from m365sync import _lib

ROOT = Path(__file__).resolve().parents[3]
HEADER = (ROOT / "crates" / "engine" / "include" / "m365sync.h").read_text()


def header_enum(prefix: str) -> dict:
    return {name: int(value) for name, value in re.findall(rf"{prefix}_([A-Z_0-9]+) = (\d+)", HEADER)}


class HeaderAgreement(unittest.TestCase):
    def test_result_codes_match_the_header(self) -> None:
        self.assertEqual(header_enum("M365SYNC_RESULT"), {c.name: c.value for c in m365sync.ResultCode})

    def test_event_kinds_match_the_header(self) -> None:
        self.assertEqual(header_enum("M365SYNC_EVENT_KIND"), {k.name: k.value for k in m365sync.EventKind})
        for kind in m365sync.EventKind:
            self.assertEqual(_lib.text(_lib.lib().m365sync_event_kind_str(kind)), kind.name.lower())

    def test_log_levels_match_the_header(self) -> None:
        self.assertEqual(header_enum("M365SYNC_LOG_LEVEL"), {l.name: l.value for l in m365sync.LogLevel})

    def test_versions_agree(self) -> None:
        define = re.search(r'#define M365SYNC_VERSION "([^"]+)"', HEADER).group(1)
        pyproject = (ROOT / "bindings" / "python" / "pyproject.toml").read_text()
        self.assertIn(f'version = "{define}"', pyproject)
        self.assertEqual(m365sync.library_version(), define)
        self.assertEqual(m365sync.__version__, define)

    def test_event_struct_layout_matches_the_header_fields(self) -> None:
        body = re.search(r"typedef struct \{(.*?)\} m365sync_event;", HEADER, re.S).group(1)
        lines = [line.strip() for line in body.splitlines()]
        fields = [re.search(r"(\w+);$", line).group(1) for line in lines if line.endswith(";")]
        self.assertEqual(fields, [name for name, _ in _lib.CEvent._fields_])

    def test_every_exception_names_its_code(self) -> None:
        for code in m365sync.ResultCode:
            if code == m365sync.ResultCode.OK:
                continue
            with self.assertRaises(m365sync.M365SyncError) as caught:
                m365sync.errors.check(code)
            self.assertEqual(caught.exception.code, code)


class LibraryLookup(unittest.TestCase):
    def test_explicit_path_must_exist(self) -> None:
        import os

        saved = os.environ.get("M365SYNC_LIB")
        os.environ["M365SYNC_LIB"] = "/nonexistent/libm365sync.so"
        try:
            with self.assertRaisesRegex(OSError, "M365SYNC_LIB"):
                _lib.find_library()
        finally:
            if saved is None:
                del os.environ["M365SYNC_LIB"]
            else:
                os.environ["M365SYNC_LIB"] = saved

    def test_candidates_include_the_package_dir_and_target(self) -> None:
        found = [str(p) for p in _lib.candidates()]
        self.assertTrue(found[0].endswith(f"m365sync/{_lib.LIBRARY_NAME}"), found)
        self.assertTrue(any(f"target/debug/{_lib.LIBRARY_NAME}" in p for p in found), found)


if __name__ == "__main__":
    unittest.main()
