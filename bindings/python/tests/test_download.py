"""Downloads over ctypes: to a file, to a file-like object, as an iterator."""

from __future__ import annotations

import base64
import io
import os
import unittest

import m365sync

from support import SimTestCase, wait_until


def quick_xor(data: bytes) -> str:
    """Microsoft's QuickXorHash, base64 (the reference algorithm, for checking)."""
    cells = [0] * 160
    for i, byte in enumerate(data):
        cells[i % 160] ^= byte
    out = bytearray(20)
    for k, byte in enumerate(cells):
        shift = (k * 11) % 160
        low, high = (byte << (shift % 8)) & 0xFF, byte >> (8 - shift % 8) if shift % 8 else 0
        out[shift // 8 % 20] ^= low
        out[(shift // 8 + 1) % 20] ^= high
    for i, byte in enumerate(len(data).to_bytes(8, "little")):
        out[12 + i] ^= byte
    return base64.b64encode(bytes(out)).decode()


class Downloads(SimTestCase):
    sim_settings = {"items": 30, "seed": 9}

    def setUp(self) -> None:
        super().setUp()
        self.drive = self.sim.drive_ids()[0]
        self.content = b"backup me\n" * 1000
        self.item = self.sim.create(self.drive, "root", "doc.txt", content=self.content.decode())["id"]
        self.eng = self.engine()

    def test_a_file_download_is_verified_and_a_second_is_unchanged(self) -> None:
        dest = os.path.join(self.tmp.name, "doc.txt")
        result = self.eng.download(self.drive, self.item, dest)
        self.assertEqual(result["result"], "downloaded")
        self.assertEqual(result["bytes"], len(self.content))
        self.assertEqual(result["hash"], quick_xor(self.content))
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), self.content)
        self.assertFalse(os.path.exists(dest + ".partial"))
        self.assertEqual(self.eng.download(self.drive, self.item, dest)["result"], "unchanged")

    def test_file_like_and_iterator_forms_stream_the_same_bytes(self) -> None:
        out = io.BytesIO()
        self.assertEqual(self.eng.download_to(self.drive, self.item, out)["result"], "downloaded")
        self.assertEqual(out.getvalue(), self.content)
        self.sim.update(self.drive, self.item, content="second version")
        self.assertEqual(b"".join(self.eng.iter_download(self.drive, self.item)), b"second version")

    def test_a_writer_that_raises_aborts_with_its_exception(self) -> None:
        class Full:
            def write(self, data: bytes) -> None:
                raise OSError(28, "No space left on device")

        with self.assertRaisesRegex(OSError, "No space left"):
            self.eng.download_to(self.drive, self.item, Full())

    def test_bad_input_is_a_clear_error(self) -> None:
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "does not exist"):
            self.eng.download(self.drive, self.item, os.path.join(self.tmp.name, "no", "dir", "f"))
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "not known"):
            self.eng.download("b!nope", self.item, os.path.join(self.tmp.name, "f"))
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "not found"):
            self.eng.download(self.drive, "01NOPE", os.path.join(self.tmp.name, "f"))
        folder = self.sim.create(self.drive, "root", "Folder", folder=True)["id"]
        result = self.eng.download(self.drive, folder, os.path.join(self.tmp.name, "f"))
        self.assertEqual(result, {"result": "skipped", "reason": "folder"})

    def test_pending_downloads_follow_the_crawl(self) -> None:
        self.eng.start()
        wait_until("the first crawl", lambda: all(d["state"] == "synced" for d in self.eng.status()["drives"]))
        pending = {p["item_id"] for p in self.eng.pending_downloads(self.drive, limit=1000)}
        self.assertIn(self.item, pending)
        self.eng.download(self.drive, self.item, os.path.join(self.tmp.name, "doc.txt"))
        pending = {p["item_id"] for p in self.eng.pending_downloads(self.drive, limit=1000)}
        self.assertNotIn(self.item, pending)


class ManagedMirror(SimTestCase):
    sim_settings = {"items": 40, "seed": 3}

    def test_every_file_is_stored_once_with_a_content_stored_event(self) -> None:
        mirror = os.path.join(self.tmp.name, "mirror")
        seen = []
        with self.engine(download={"dir": mirror, "max_concurrent": 2}) as engine:
            engine.set_event_callback(seen.append)
            engine.start()
            wait_until(
                "the mirror",
                lambda: engine.status()["drives"] and all(d["state"] == "synced" and d["downloads_pending"] == 0 for d in engine.status()["drives"]),
            )
            stored = [e for e in seen if e.kind == m365sync.EventKind.CONTENT_STORED]
            self.assertTrue(stored)
            for event in stored:
                with open(event.detail, "rb") as f:
                    self.assertEqual(quick_xor(f.read()), event.facets["hashes"]["quick_xor"])
            keys = [(e.drive_id, e.item_id, e.ctag) for e in stored]
            self.assertEqual(len(keys), len(set(keys)), "one content_stored per cTag")


if __name__ == "__main__":
    unittest.main()
