"""Permission details over ctypes: effective permissions, the grant queries, and the
diff a permissions_changed event carries."""

from __future__ import annotations

import unittest

import m365sync

from support import SimTestCase, wait_until


class Permissions(SimTestCase):
    sim_settings = {
        "items": 40,
        "seed": 4,
        "users": 0,
        "users_without_drive": 0,
        "sites": 1,
        "libraries_per_site": 1,
        "sharing": {"unique_folder_permille": 0, "unique_file_permille": 0},
    }

    def setUp(self) -> None:
        super().setUp()
        self.drive = self.sim.drive_ids()[0]
        self.folder = self.sim.create(self.drive, "root", "Shared", folder=True)["id"]
        self.file = self.sim.create(self.drive, self.folder, "plan.txt", content="x")["id"]
        self.eng = self.engine(emit_initial_items=True, permissions={"fetch": True})
        self.eng.start()
        wait_until("the root's permissions", lambda: self.known(self.file))

    def known(self, item: str) -> bool:
        found = self.eng.effective_permissions(self.drive, item)
        return found is not None and bool(found["known"])

    def test_effective_permissions_follow_grants_and_events_carry_the_diff(self) -> None:
        root = self.sim.permission_roots(self.drive)[0]
        before = self.eng.effective_permissions(self.drive, self.file)
        assert before is not None
        self.assertEqual(before["inherited_from"], root)
        self.sim.grant(self.drive, self.folder, "guest:ann@partner1.example", ["write"])

        def granted() -> bool:
            found = self.eng.effective_permissions(self.drive, self.file)
            return found is not None and found["inherited_from"] == self.folder

        wait_until("the grant", granted)
        changes = [e for e in self.eng.next_events(max_events=1000) if e.permission_change]
        folder_changes = [e.permission_change for e in changes if e.item_id == self.folder]
        self.assertEqual(len(folder_changes), 1)
        change = folder_changes[0]
        assert change is not None
        self.assertIsNone(change["inherited_from"])
        self.assertEqual(change["affected"], 2)
        self.assertTrue(change["added"][0]["external"])
        external = self.eng.items_with_grants("external")
        self.assertEqual(sorted(i["item_id"] for i in external), sorted([self.folder, self.file]))
        by_guest = self.eng.items_with_grants("principal", "ann@partner1.example", drive_id=self.drive)
        self.assertEqual(len(by_guest), 2)
        self.assertEqual(len(self.eng.items_with_grants("external", limit=1)), 1)

    def test_anyone_links_and_bad_input(self) -> None:
        self.sim.create_link(self.drive, self.file, "view", "anonymous")
        wait_until("the link", lambda: bool(self.eng.items_with_grants("anyone_links")))
        hit = self.eng.items_with_grants("anyone_links")[0]
        self.assertEqual(hit["item_id"], self.file)
        self.assertEqual(hit["path"], "/Shared/plan.txt")
        self.assertIsNone(self.eng.effective_permissions(self.drive, "no-such-item"))
        with self.assertRaises(m365sync.InvalidArgumentError):
            self.eng.items_with_grants("everyone")
        with self.assertRaises(ValueError):
            self.eng.items_with_grants("principal")


if __name__ == "__main__":
    unittest.main()
