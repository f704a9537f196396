"""Events as Python values."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

from . import _lib


class EventKind(enum.IntEnum):
    """`m365sync_event_kind`: what happened."""

    CREATED = 1
    CONTENT_CHANGED = 2
    METADATA_CHANGED = 3
    RENAMED = 4
    MOVED = 5
    DELETED = 6
    PERMISSIONS_CHANGED = 7
    RESYNC_STARTED = 8
    RESYNC_COMPLETED = 9
    CRAWL_COMPLETED = 10
    SUBSCRIPTION_CREATED = 11
    SUBSCRIPTION_RENEWED = 12
    SUBSCRIPTION_LOST = 13
    DRIVE_ADDED = 14
    DRIVE_REMOVED = 15
    ERROR = 16
    CONTENT_STORED = 17


@dataclass(frozen=True)
class Event:
    """One journal event, copied out of the borrowed C struct."""

    seq: int
    #: An `EventKind`, or a plain int for kinds newer than these bindings.
    kind: Union[EventKind, int]
    #: The drive concerned; tenant-level events (discovery errors, the ``/sites``
    #: and ``/groups`` subscriptions' events) carry the Graph collection instead,
    #: starting with ``/``: ``/sites``, ``/users``, ``/groups``, or ``/`` for a
    #: discovery round that failed as a whole.
    drive_id: str
    item_id: str
    path: str
    old_path: str
    ctag: str
    etag: str
    size: int
    is_folder: bool
    at_ms: int
    detail: str
    #: The item's facets (``package``, ``malware``, ``remote``, ``mime_type``,
    #: ``hashes``, ``created_by``, ``modified_by``, ``web_url``, ``sharepoint_ids``,
    #: ``fs_created``, ``fs_modified``): only the keys Graph reported; empty for
    #: deletes and drive-level events.
    facets: Dict[str, Any] = field(default_factory=dict)

    @property
    def permission_change(self) -> Optional[Dict[str, Any]]:
        """The diff a ``permissions_changed`` event carries when the engine fetches
        permissions (``permissions.fetch``): ``{"inherited_from", "added", "removed",
        "grants", "affected"}``; None for other events and changes without details."""
        if self.kind != EventKind.PERMISSIONS_CHANGED or not self.detail:
            return None
        value = json.loads(self.detail)
        return value if isinstance(value, dict) else None

    @classmethod
    def from_c(cls, event: _lib.CEvent) -> "Event":
        """Copies a borrowed `m365sync_event`."""
        try:
            kind: Union[EventKind, int] = EventKind(event.kind)
        except ValueError:
            kind = int(event.kind)
        return cls(
            seq=event.seq,
            kind=kind,
            drive_id=_lib.text(event.drive_id),
            item_id=_lib.text(event.item_id),
            path=_lib.text(event.path),
            old_path=_lib.text(event.old_path),
            ctag=_lib.text(event.ctag),
            etag=_lib.text(event.etag),
            size=event.size,
            is_folder=bool(event.is_folder),
            at_ms=event.at_ms,
            detail=_lib.text(event.detail),
            facets=json.loads(_lib.text(event.facets_json) or "{}"),
        )
