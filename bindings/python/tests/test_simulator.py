"""Simulator over ctypes: control commands and their errors."""

from __future__ import annotations

import unittest

import m365sync

from support import SimTestCase


class Commands(SimTestCase):
    def test_items_can_be_created_changed_and_deleted(self) -> None:
        self.assertTrue(self.sim.url.startswith("http://127.0.0.1:"))
        drive = self.sim.drive_ids()[0]
        folder = self.sim.create(drive, "root", "Docs", folder=True)
        item = self.sim.create(drive, folder["id"], "a.txt", content="abc")
        self.assertEqual((item["path"], item["size"]), ("/Docs/a.txt", 3))
        moved = self.sim.update(drive, item["id"], name="b.txt", parent_id="root", content="abcdef")
        self.assertEqual((moved["path"], moved["size"]), ("/b.txt", 6))
        self.assertTrue(self.sim.share(drive, item["id"])["shared"])
        self.assertFalse(self.sim.unshare(drive, item["id"])["shared"])
        self.assertIn("/b.txt", [i["path"] for i in self.sim.snapshot(drive)])
        self.sim.delete(drive, item["id"])
        self.assertNotIn("/b.txt", [i["path"] for i in self.sim.snapshot(drive)])
        self.sim.expire_delta_tokens()
        self.sim.set_faults(error_503_rate=0.0)
        self.assertGreaterEqual(self.sim.stats()["requests_by_route"]["POST /_sim/drives/{id}/items"], 2)
        site = self.sim.apply({"op": "add_site", "name": "Projects"})
        self.assertIn(site["drive_id"], self.sim.drive_ids())

    def test_refusals_raise_with_the_reason(self) -> None:
        drive = self.sim.drive_ids()[0]
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "404"):
            self.sim.delete(drive, "no-such-item")
        self.sim.create(drive, "root", "same.txt")
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "409"):
            self.sim.create(drive, "root", "same.txt")
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "teleport"):
            self.sim.apply({"op": "teleport"})
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "between 0 and 1"):
            self.sim.set_faults(error_503_rate=2)

    def test_permissions_can_be_granted_linked_revoked_and_restored(self) -> None:
        drive = self.sim.drive_ids()[0]
        root = self.sim.drives()[0]["root_id"]
        folder = self.sim.create(drive, "root", "Team", folder=True)
        item = self.sim.create(drive, folder["id"], "plan.txt", content="x")
        inherited = self.sim.permissions(drive, item["id"])
        self.assertEqual(inherited["inherited_from"], root)
        self.assertEqual([g["kind"] for g in inherited["grants"]], ["site_group"] * 3)

        user = self.sim.users()[1]
        grant = self.sim.grant(drive, folder["id"], "user:" + user["upn"], ["write"])
        self.assertEqual((grant["kind"], grant["principal"], grant["roles"]), ("user", user["upn"], ["write"]))
        guest = self.sim.grant(drive, folder["id"], "guest:ann@partner3.example", ["read"])
        self.assertTrue(guest["external"])
        link = self.sim.create_link(drive, folder["id"], "view", "users", recipients=["bo@partner1.example"],
                                    expiration="2030-01-01T00:00:00Z")
        self.assertEqual((link["link_type"], link["link_scope"], link["external"]), ("view", "users", True))
        self.assertEqual(self.sim.permissions(drive, item["id"])["inherited_from"], folder["id"])
        self.assertEqual(self.sim.permission_roots(drive), [root, folder["id"]])

        self.sim.revoke(drive, folder["id"], guest["id"])
        ids = [g["id"] for g in self.sim.permissions(drive, folder["id"])["grants"]]
        self.assertNotIn(guest["id"], ids)
        self.assertIn(link["id"], ids)
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "inherited"):
            self.sim.revoke(drive, item["id"], grant["id"])
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "404"):
            self.sim.grant(drive, folder["id"], "user:nobody@sim.onmicrosoft.com", ["read"])
        self.assertEqual(self.sim.restore_inheritance(drive, folder["id"])["inherited_from"], root)
        self.assertEqual(self.sim.permission_roots(drive), [root])
        broken = self.sim.break_inheritance(drive, item["id"])
        self.assertIsNone(broken["inherited_from"])
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "400"):
            self.sim.break_inheritance(drive, item["id"])
        self.assertEqual(self.sim.groups(), [], "no groups unless asked for")

    def test_permissions_denied_is_a_fault_knob(self) -> None:
        self.sim.set_faults(permissions_denied=True)
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "permissions_denied"):
            self.sim.set_faults(permissions_denied="yes")
        self.assertEqual(self.sim.stats()["permission_requests"], 0)

    def test_bad_settings_and_close(self) -> None:
        with self.assertRaisesRegex(m365sync.InvalidConfigError, "itemz"):
            m365sync.Simulator(itemz=3)
        sim = m365sync.Simulator(items=1)
        sim.close()
        sim.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            sim.drives()

    def test_engine_config_merges_extra_keys(self) -> None:
        config = self.sim.engine_config(database="x.db", workers=3)
        self.assertEqual((config["database"], config["workers"]), ("x.db", 3))
        self.assertEqual(config["graph_url"], self.sim.url + "/v1.0")
        self.assertEqual(sorted(config["drives"]), sorted(self.sim.drive_ids()))


class Tenants(unittest.TestCase):
    """One simulator, several tenants: each with its own credentials and data."""

    def setUp(self) -> None:
        self.sim = m365sync.Simulator(items=10, seed=5, tenants=3)
        self.addCleanup(self.sim.close)

    def test_each_tenant_has_its_own_credentials_drives_and_config(self) -> None:
        self.assertEqual(self.sim.tenant_count, 3)
        tenants = self.sim.tenants()
        self.assertEqual([t.index for t in tenants], [0, 1, 2])
        self.assertEqual(len({t.tenant_id for t in tenants}), 3)
        self.assertEqual(len({t.client_secret for t in tenants}), 3)
        self.assertEqual({t.client_id for t in tenants}, {tenants[0].client_id})
        self.assertEqual(tenants[0].drive_ids(), self.sim.drive_ids())
        self.assertEqual(tenants[1].tenant_id, tenants[0].tenant_id + "-1")
        self.assertFalse(set(tenants[1].drive_ids()) & set(tenants[2].drive_ids()))
        config = tenants[2].engine_config(database="t2.db")
        self.assertEqual((config["tenant_id"], config["client_secret"]), (tenants[2].tenant_id, tenants[2].client_secret))
        self.assertEqual(sorted(config["drives"]), sorted(tenants[2].drive_ids()))
        self.assertEqual(config["graph_url"], self.sim.url + "/v1.0", "the same Graph for every tenant")
        with self.assertRaises(IndexError):
            self.sim.tenant(3)

    def test_mutations_reach_only_their_tenant(self) -> None:
        one = self.sim.tenant(1)
        drive = one.drive_ids()[0]
        item = one.create(drive, "root", "only-in-one.txt", content="abc")
        self.assertIn("/only-in-one.txt", [i["path"] for i in one.snapshot(drive)])
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "404"):
            self.sim.snapshot(drive)
        with self.assertRaisesRegex(m365sync.InvalidArgumentError, "404"):
            self.sim.tenant(2).delete(drive, item["id"])
        self.assertEqual(one.update(drive, item["id"], name="renamed.txt")["path"], "/renamed.txt")
        self.assertTrue(one.share(drive, item["id"])["shared"])
        one.delete(drive, item["id"])
        self.assertEqual(one.stats()["requests_by_route"]["POST /_sim/drives/{id}/items"], 1)
        self.assertNotIn("POST /_sim/drives/{id}/items", self.sim.stats()["requests_by_route"])
        with self.assertRaisesRegex(m365sync.InvalidConfigError, "tenants"):
            m365sync.Simulator(tenants=0)


if __name__ == "__main__":
    unittest.main()
