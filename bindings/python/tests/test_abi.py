"""The bindings agree with the C header and the library."""

from __future__ import annotations

import os
import re
import tempfile
import unittest
from pathlib import Path
from typing import List, Optional
from unittest import mock

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


class JsonAnswers(unittest.TestCase):
    def test_answers_of_the_wrong_shape_are_refused(self) -> None:
        self.assertEqual(_lib.json_object('{"a": 1}'), {"a": 1})
        self.assertEqual(_lib.json_objects('[{"a": 1}]'), [{"a": 1}])
        for text in ("[]", "3", "null"):
            with self.assertRaisesRegex(ValueError, "JSON object"):
                _lib.json_object(text)
        for text in ("{}", "[1]", '[{"a": 1}, "b"]'):
            with self.assertRaisesRegex(ValueError, "array of objects"):
                _lib.json_objects(text)


class LibraryLookup(unittest.TestCase):
    def test_explicit_path_must_exist(self) -> None:
        with mock.patch.dict(os.environ, {"M365SYNC_LIB": "/nonexistent/libm365sync.so"}):
            with self.assertRaisesRegex(OSError, "M365SYNC_LIB"):
                _lib.find_library()

    def temporary_dir(self) -> Path:
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        return Path(directory.name)

    def source_tree(self) -> Path:
        """A checkout laid out like the repository, with a built `target/`; returns its
        package directory."""
        root = self.temporary_dir()
        (root / "target" / "debug").mkdir(parents=True)
        package = root / "bindings" / "python" / "m365sync"
        package.mkdir(parents=True)
        return package

    def candidates(self, package: Path, cargo_target_dir: Optional[Path]) -> List[Path]:
        with mock.patch.dict(os.environ):
            os.environ.pop("CARGO_TARGET_DIR", None)
            if cargo_target_dir:
                os.environ["CARGO_TARGET_DIR"] = str(cargo_target_dir)
            return list(_lib.candidates(package_dir=package))

    def test_the_package_dir_comes_first_then_the_checkout_target(self) -> None:
        package = self.source_tree()
        target = package.parents[2] / "target"
        name = _lib.LIBRARY_NAME
        self.assertEqual(
            self.candidates(package, None),
            [package / name, package.parent / name, target / "release" / name, target / "debug" / name],
        )

    def test_cargo_target_dir_comes_before_the_checkout_target(self) -> None:
        package = self.source_tree()
        elsewhere = self.temporary_dir()
        checkout = package.parents[2] / "target"
        name = _lib.LIBRARY_NAME
        self.assertEqual(
            self.candidates(package, elsewhere)[2:],
            [elsewhere / "release" / name, elsewhere / "debug" / name, checkout / "release" / name, checkout / "debug" / name],
        )

    def test_an_installed_package_outside_a_checkout_looks_only_beside_itself(self) -> None:
        package = self.temporary_dir() / "site-packages" / "m365sync"
        package.mkdir(parents=True)
        if any((d / "target").is_dir() for d in package.parents):
            self.skipTest(f"a target/ directory above {package} is looked in too")
        name = _lib.LIBRARY_NAME
        self.assertEqual(self.candidates(package, None), [package / name, package.parent / name])


if __name__ == "__main__":
    unittest.main()
