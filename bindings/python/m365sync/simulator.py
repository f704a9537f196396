"""`Simulator`: the Graph simulator, for testing hosts offline; `SimTenant`: one of
its tenants."""

from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import _lib
from .errors import check


class _Control:
    """The control commands of one tenant (`m365sync_sim_apply`); subclasses say
    which tenant a command goes to."""

    def _command(self, command: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def apply(self, command: Mapping[str, Any]) -> Any:
        """Runs one control command (`{"op": ...}`, see `m365sync_sim_apply`)."""
        return json.loads(self._command(command))

    def _apply_item(self, command: Mapping[str, Any]) -> Dict[str, Any]:
        """Runs a command that answers with one object (an item, the counters)."""
        return _lib.json_object(self._command(command))

    def create(self, drive: str, parent_id: str, name: str, *, folder: bool = False, content: str = "") -> Dict[str, Any]:
        """Creates a file or folder (`parent_id` may be "root"); returns the item."""
        return self._apply_item({"op": "create", "drive": drive, "parent_id": parent_id, "name": name,
                                 "folder": folder, "content": content})

    def update(self, drive: str, item: str, *, name: Optional[str] = None, parent_id: Optional[str] = None,
               content: Optional[str] = None) -> Dict[str, Any]:
        """Renames, moves and/or rewrites an item; returns the item."""
        changes = {"name": name, "parent_id": parent_id, "content": content}
        command = {"op": "update", "drive": drive, "item": item}
        command.update({k: v for k, v in changes.items() if v is not None})
        return self._apply_item(command)

    def delete(self, drive: str, item: str) -> None:
        """Deletes an item (a folder with everything below it)."""
        self.apply({"op": "delete", "drive": drive, "item": item})

    def share(self, drive: str, item: str) -> Dict[str, Any]:
        """Shares an item with an organization view link, breaking its inheritance
        first (a permission change); returns the item."""
        return self._apply_item({"op": "share", "drive": drive, "item": item})

    def unshare(self, drive: str, item: str) -> Dict[str, Any]:
        """Drops an item's unique permissions so it inherits again; returns the item."""
        return self._apply_item({"op": "unshare", "drive": drive, "item": item})

    def permissions(self, drive: str, item: str) -> Dict[str, Any]:
        """The permissions in force on an item: `inherited_from` (the id of the item
        they come from, None when the item has unique ones) and `grants`, each with
        `id`, `roles`, `kind` (user, group, site_group, guest, link), `principal`,
        `link_type`, `link_scope` and `external`."""
        return self._apply_item({"op": "permissions", "drive": drive, "item": item})

    def grant(self, drive: str, item: str, principal: str, roles: Sequence[str]) -> Dict[str, Any]:
        """Gives `roles` (read, write, owner) to `principal` (`user:{upn}`,
        `group:{id}` or `guest:{email}`), breaking the item's inheritance first;
        returns the grant."""
        return self._apply_item({"op": "grant", "drive": drive, "item": item, "principal": principal,
                                 "roles": list(roles)})

    def create_link(self, drive: str, item: str, link_type: str, scope: str, *, password: bool = False,
                    expiration: Optional[str] = None, recipients: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """Adds a sharing link (`link_type` view, edit or embed; `scope` anonymous,
        organization or users, the last with `recipients`), breaking the item's
        inheritance first; returns the grant."""
        command: Dict[str, Any] = {"op": "create_link", "drive": drive, "item": item, "type": link_type,
                                   "scope": scope, "password": password}
        if expiration is not None:
            command["expiration"] = expiration
        if recipients is not None:
            command["recipients"] = list(recipients)
        return self._apply_item(command)

    def revoke(self, drive: str, item: str, permission_id: str) -> None:
        """Removes a grant from an item with unique permissions (not an owner's)."""
        self.apply({"op": "revoke", "drive": drive, "item": item, "permission": permission_id})

    def break_inheritance(self, drive: str, item: str) -> Dict[str, Any]:
        """Gives an item a copy of the permissions it inherits; returns them."""
        return self._apply_item({"op": "break_inheritance", "drive": drive, "item": item})

    def restore_inheritance(self, drive: str, item: str) -> Dict[str, Any]:
        """Drops an item's unique permissions; returns those it inherits now."""
        return self._apply_item({"op": "restore_inheritance", "drive": drive, "item": item})

    def permission_roots(self, drive: str) -> List[str]:
        """The ids of a drive's items with unique permissions, the root first."""
        roots = self.apply({"op": "permission_roots", "drive": drive})
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            raise ValueError(f"expected a list of item ids, got {roots!r}")
        return roots

    def users(self) -> List[Dict[str, Any]]:
        """The directory users: `id`, `upn`, `display_name`, `drive_id`."""
        return _lib.json_objects(self._command({"op": "users"}))

    def groups(self) -> List[Dict[str, Any]]:
        """The directory groups: `id`, `name`, `mail`, `unified`, `site_id`, `drive_id`."""
        return _lib.json_objects(self._command({"op": "groups"}))

    def set_faults(self, **knobs: Any) -> None:
        """Sets injected failures: `error_503_rate`, `error_500_rate`, `reset_rate`, `seed`,
        `permissions_denied` (Graph's `/permissions` answers 403) and the simulator's
        other fault knobs."""
        self.apply(dict(knobs, op="faults"))

    def expire_delta_tokens(self) -> None:
        """Makes every delta token issued so far answer 410 Gone."""
        self.apply({"op": "expire_delta_tokens"})

    def stats(self) -> Dict[str, Any]:
        """Request, throttling and fault counters."""
        return self._apply_item({"op": "stats"})

    def snapshot(self, drive: str) -> List[Dict[str, Any]]:
        """Every live item of a drive, parents first."""
        return _lib.json_objects(self._command({"op": "snapshot", "drive": drive}))


class Simulator(_lib.Handle, _Control):
    """A Graph simulator on 127.0.0.1 with generated tenants (`tenants`, default 1).
    `config` takes the simulator's settings (`items`, `seed`, `sites`, `users`,
    `tenants`, ...), also as keyword arguments. Its control methods address tenant 0;
    `tenant(k)` gives tenant k. Use it as a context manager, or call `close()`."""

    def __init__(self, config: Optional[Mapping[str, Any]] = None, **settings: Any) -> None:
        self._handle: Optional[Any] = None
        merged = dict(config or {}, **settings)
        handle = _lib.SIM_P()
        check(
            _lib.sim_lib().m365sync_sim_start(json.dumps(merged).encode(), ctypes.byref(handle)),
            _lib.sim_lib().m365sync_sim_last_error,
        )
        self._handle = handle

    def _h(self) -> Any:
        if self._handle is None:
            raise ValueError("the simulator is closed")
        return self._handle

    def close(self) -> None:
        """Stops the simulator and frees it. Idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None:
            _lib.sim_lib().m365sync_sim_free(handle)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return _lib.text(_lib.sim_lib().m365sync_sim_url(self._h()))

    def _owned(self, function: Any, *args: Any) -> str:
        out = ctypes.c_void_p()
        check(function(self._h(), *args, ctypes.byref(out)), _lib.sim_lib().m365sync_sim_last_error)
        return _lib.take_string(out, _lib.sim_lib().m365sync_sim_string_free)

    def drives(self) -> List[Dict[str, Any]]:
        """Every drive: `id`, `kind`, `name`, `site_id`, `owner_user_id`, `root_id`."""
        return _lib.json_objects(self._owned(_lib.sim_lib().m365sync_sim_drives_json))

    def drive_ids(self) -> List[str]:
        """The ids of every drive."""
        return [drive["id"] for drive in self.drives()]

    def engine_config(self, **extra: Any) -> Dict[str, Any]:
        """An engine configuration for this simulator and all its drives; `extra`
        adds or overrides keys (`database` is required)."""
        text = self._owned(_lib.sim_lib().m365sync_sim_engine_config_json, json.dumps(extra).encode())
        return _lib.json_object(text)

    def _command(self, command: Mapping[str, Any]) -> str:
        return self._owned(_lib.sim_lib().m365sync_sim_apply, json.dumps(dict(command)).encode())

    @property
    def tenant_count(self) -> int:
        """How many tenants the simulator serves."""
        count = ctypes.c_uint32()
        lib = _lib.sim_lib()
        check(lib.m365sync_sim_tenant_count(self._h(), ctypes.byref(count)), lib.m365sync_sim_last_error)
        return count.value

    def tenant(self, index: int) -> "SimTenant":
        """Tenant `index` (0-based); `IndexError` past the last."""
        if not 0 <= index < self.tenant_count:
            raise IndexError(f"no tenant {index}: the simulator has {self.tenant_count}")
        return SimTenant(self, index)

    def tenants(self) -> List["SimTenant"]:
        """Every tenant, by index."""
        return [SimTenant(self, k) for k in range(self.tenant_count)]


class SimTenant(_Control):
    """One tenant of a `Simulator`: its credentials, drives and engine
    configuration, and the same control methods as the simulator's (which address
    tenant 0). Valid while the simulator is open."""

    def __init__(self, simulator: Simulator, index: int) -> None:
        self._sim = simulator
        self.index = index

    def _command(self, command: Mapping[str, Any]) -> str:
        return self._sim._command(dict(command, tenant=self.index))

    def _summary(self) -> Dict[str, Any]:
        lib = _lib.sim_lib()
        return _lib.json_object(self._sim._owned(lib.m365sync_sim_tenant_json, self.index))

    @property
    def tenant_id(self) -> str:
        """The tenant id its token endpoint answers to."""
        return str(self._summary()["tenant_id"])

    @property
    def client_id(self) -> str:
        """The app's client id (the same in every tenant)."""
        return str(self._summary()["client_id"])

    @property
    def client_secret(self) -> str:
        """The app's client secret in this tenant."""
        return str(self._summary()["client_secret"])

    def drives(self) -> List[Dict[str, Any]]:
        """Every drive of the tenant: `id`, `kind`, `name`, `site_id`, `owner_user_id`, `root_id`."""
        drives = self._summary()["drives"]
        if not isinstance(drives, list):
            raise ValueError(f"expected a list of drives, got {drives!r}")
        return drives

    def drive_ids(self) -> List[str]:
        """The ids of every drive of the tenant."""
        return [drive["id"] for drive in self.drives()]

    def engine_config(self, **extra: Any) -> Dict[str, Any]:
        """An engine configuration for this tenant and all its drives; `extra` adds
        or overrides keys (`database` is required)."""
        lib = _lib.sim_lib()
        text = self._sim._owned(lib.m365sync_sim_tenant_engine_config_json, self.index, json.dumps(extra).encode())
        return _lib.json_object(text)
