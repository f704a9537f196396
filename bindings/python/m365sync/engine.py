"""`Engine`: the change-detection engine of one tenant."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import queue
import threading
import weakref
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Union

from . import _lib
from .errors import check
from .events import Event

_log = logging.getLogger("m365sync")

#: An event callback: return None or True to acknowledge, False to have the
#: event delivered again later. An exception counts as False (and is logged).
EventCallback = Callable[[Event], Optional[bool]]


class Writable(Protocol):
    """Anything with a binary ``write`` (a file opened ``"wb"``, ``io.BytesIO``, a socket file)."""

    def write(self, data: bytes, /) -> Any: ...


def _event_trampoline(callback: EventCallback, on_enter: Callable[[bool], None]) -> Any:
    """A C event callback calling `callback`; Python exceptions never reach C."""

    def trampoline(_userdata: Optional[int], event: Any) -> int:
        on_enter(True)
        try:
            accepted = callback(Event.from_c(event.contents))
            return 0 if accepted is None or accepted else 1
        except BaseException:  # noqa: BLE001 - nothing may propagate into C
            _log.exception("m365sync event callback raised; the event will be delivered again")
            return 1
        finally:
            on_enter(False)

    return _lib.EVENT_CALLBACK(trampoline)


class Engine(_lib.Handle):
    """An engine mirroring the drives named in `config` (the JSON configuration
    of the CLI, as a dict). Use it as a context manager, or call `close()`.

    Methods may be called from any thread. A callback set with
    `set_event_callback` runs on the engine's dispatcher thread.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._handle: Optional[Any] = None
        self._lock = threading.Lock()
        # Every trampoline C was given stays alive until close(): after a
        # replacement the old one may still be finishing an event.
        self._trampolines: List[Any] = []
        self._callback_thread: Optional[int] = None
        handle = _lib.ENGINE_P()
        check(_lib.lib().m365sync_engine_new(json.dumps(dict(config)).encode(), ctypes.byref(handle)))
        self._handle = handle

    def _h(self) -> Any:
        if self._handle is None:
            raise ValueError("the engine is closed")
        return self._handle

    def start(self) -> None:
        """Starts the engine's threads. An engine starts once (else `StateError`)."""
        check(_lib.lib().m365sync_engine_start(self._h()))

    def stop(self) -> None:
        """Stops the engine and waits for its threads. Idempotent; allowed inside the callback."""
        check(_lib.lib().m365sync_engine_stop(self._h()))

    def close(self) -> None:
        """Stops and frees the engine. Idempotent. Inside the event callback it
        only stops the engine; a later `close()` from another thread frees it."""
        with self._lock:
            if self._handle is None:
                return
            if self._callback_thread == threading.get_ident():
                _log.warning("Engine.close() inside the event callback only stops the engine")
                _lib.lib().m365sync_engine_stop(self._handle)
                return
            handle, self._handle = self._handle, None
        _lib.lib().m365sync_engine_free(handle)
        self._trampolines.clear()

    def _tracker(self) -> Callable[[bool], None]:
        """Records which thread runs this engine's callback, through a weak
        reference so the trampoline does not keep the engine alive."""
        engine = weakref.ref(self)

        def entered(inside: bool) -> None:
            target = engine()
            if target is not None:
                target._callback_thread = threading.get_ident() if inside else None

        return entered

    def set_event_callback(self, callback: Optional[EventCallback]) -> None:
        """Delivers every event, in order, to `callback` on the dispatcher
        thread; None removes it (events then wait for `events()`)."""
        if callback is None:
            check(_lib.lib().m365sync_engine_set_event_callback(self._h(), _lib.EVENT_CALLBACK(), None))
            return
        trampoline = _event_trampoline(callback, self._tracker())
        self._trampolines.append(trampoline)
        check(_lib.lib().m365sync_engine_set_event_callback(self._h(), trampoline, None))

    def next_events(self, after_seq: int = -1, max_events: int = 100, timeout: float = 0.0) -> List[Event]:
        """Up to `max_events` events with a seq above `after_seq` (-1: above the
        last acknowledged one), waiting up to `timeout` seconds for the first."""
        events: List[Event] = []

        def collect(_userdata: Optional[int], event: Any) -> int:
            try:
                events.append(Event.from_c(event.contents))
                return 0
            except BaseException:  # noqa: BLE001 - nothing may propagate into C
                _log.exception("cannot copy an m365sync event")
                return 1

        count = ctypes.c_size_t()
        timeout_ms = max(0, min(int(timeout * 1000), 2**32 - 1))
        check(
            _lib.lib().m365sync_engine_next_events(
                self._h(), after_seq, max_events, timeout_ms, _lib.EVENT_CALLBACK(collect), None,
                ctypes.byref(count),
            )
        )
        return events

    def events(self, timeout: float = 1.0, *, after_seq: int = -1, batch: int = 100) -> Iterator[Event]:
        """Iterates over events, oldest first, starting after `after_seq` (-1:
        after the last acknowledged one); ends once `timeout` seconds pass
        without a new event. Nothing is acknowledged: call `ack(event.seq)`
        when an event is processed, or it comes again after a restart."""
        position = after_seq
        while True:
            events = self.next_events(position, batch, timeout)
            if not events:
                return
            for event in events:
                position = event.seq
                yield event

    def ack(self, seq: int) -> None:
        """Acknowledges every event up to and including `seq`."""
        check(_lib.lib().m365sync_engine_ack(self._h(), seq))

    def status(self) -> Dict[str, Any]:
        """Drives, journal position and throttling counters, as `m365sync status` shows them."""
        out = ctypes.c_void_p()
        check(_lib.lib().m365sync_engine_status_json(self._h(), ctypes.byref(out)))
        return _lib.json_object(_lib.take_string(out))

    def download(self, drive_id: str, item_id: str, dest: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
        """Downloads an item's current content to the file `dest` through the tenant's
        throttle gate: via ``dest.partial`` (resumed if present), hash-verified, made
        durable and renamed into place. Returns ``{"result": "downloaded", "bytes",
        "hash", "ctag"}``, ``{"result": "unchanged", "ctag"}`` or ``{"result": "skipped",
        "reason"}``; raises `HashMismatchError` after a second mismatch."""
        out = ctypes.c_void_p()
        check(
            _lib.lib().m365sync_engine_download(
                self._h(), drive_id.encode(), item_id.encode(), os.fsencode(dest), ctypes.byref(out)
            )
        )
        return _lib.json_object(_lib.take_string(out))

    def download_to(self, drive_id: str, item_id: str, out: Writable) -> Dict[str, Any]:
        """Like `download`, but writes the bytes to `out` as they arrive (each byte
        once, also across resets). The hash is checked at the end: on an exception,
        discard what `out` received. An exception raised by ``out.write`` aborts the
        download and is re-raised."""
        failure: List[BaseException] = []

        def write(_userdata: Optional[int], data: Any, length: int) -> int:
            try:
                out.write(ctypes.string_at(data, length))
                return 0
            except BaseException as e:  # noqa: BLE001 - re-raised below
                failure.append(e)
                return 1

        callback = _lib.WRITE_CALLBACK(write)
        result = ctypes.c_void_p()
        code = _lib.lib().m365sync_engine_download_to(
            self._h(), drive_id.encode(), item_id.encode(), callback, None, ctypes.byref(result)
        )
        if failure:
            raise failure[0]
        check(code)
        return _lib.json_object(_lib.take_string(result))

    def iter_download(self, drive_id: str, item_id: str, *, buffered: int = 8) -> Iterator[bytes]:
        """The item's current content as an iterator of byte chunks (the download runs
        on a helper thread, at most `buffered` chunks ahead of the consumer). Raises
        at the end if the download failed; yields nothing for an unchanged or skipped
        item. Stopping early (closing the iterator) aborts the download."""
        chunks: "queue.Queue[Union[bytes, BaseException, None]]" = queue.Queue(maxsize=max(1, buffered))
        closed = threading.Event()

        class _Feed:
            def write(self, data: bytes) -> None:
                while not closed.is_set():
                    try:
                        chunks.put(data, timeout=0.1)
                        return
                    except queue.Full:
                        continue
                raise InterruptedError("the consumer stopped reading")

        def run() -> None:
            try:
                self.download_to(drive_id, item_id, _Feed())
                end: Union[BaseException, None] = None
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                end = e
            while not closed.is_set():
                try:
                    chunks.put(end, timeout=0.1)
                    return
                except queue.Full:
                    continue

        worker = threading.Thread(target=run, name="m365sync-download", daemon=True)
        worker.start()
        try:
            while True:
                item = chunks.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            closed.set()
            worker.join()

    def pending_downloads(self, drive_id: str, limit: int = 100) -> List[Dict[str, Any]]:
        """Up to `limit` files of a drive whose current content was never downloaded."""
        out = ctypes.c_void_p()
        check(
            _lib.lib().m365sync_engine_pending_downloads_json(
                self._h(), drive_id.encode(), limit, ctypes.byref(out)
            )
        )
        return _lib.json_objects(_lib.take_string(out))

    def effective_permissions(self, drive_id: str, item_id: str) -> Optional[Dict[str, Any]]:
        """The effective permissions of a live item: ``{"drive_id", "item_id", "path",
        "inherited_from", "known", "grants"}`` (``inherited_from`` names the ancestor
        they come from, ``None`` for unique permissions); ``None`` for an unknown item."""
        out = ctypes.c_void_p()
        check(
            _lib.lib().m365sync_engine_effective_permissions_json(
                self._h(), drive_id.encode(), item_id.encode(), ctypes.byref(out)
            )
        )
        value = json.loads(_lib.take_string(out))
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object or null from the library")
        return value

    def items_with_grants(
        self,
        grant_filter: str,
        principal: Optional[str] = None,
        drive_id: Optional[str] = None,
        limit: int = 0,
    ) -> List[Dict[str, Any]]:
        """Items whose effective permissions hold a matching grant, each as
        `effective_permissions` returns it: ``grant_filter`` is ``"anyone_links"``,
        ``"external"`` or ``"principal"`` (then ``principal`` is an id, email or login
        name). ``drive_id`` None means every drive; ``limit`` 0 means all."""
        if grant_filter == "principal":
            if not principal:
                raise ValueError("the principal filter needs a principal")
            grant_filter = f"principal:{principal}"
        out = ctypes.c_void_p()
        check(
            _lib.lib().m365sync_engine_items_with_grants_json(
                self._h(),
                drive_id.encode() if drive_id is not None else None,
                grant_filter.encode(),
                limit,
                ctypes.byref(out),
            )
        )
        return _lib.json_objects(_lib.take_string(out))
