"""Loading the m365sync C library and declaring its functions for ctypes."""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint32,
    c_void_p,
)
from pathlib import Path
from typing import Iterator, Optional, TypeVar

if sys.platform == "darwin":
    LIBRARY_NAME = "libm365sync.dylib"
elif sys.platform == "win32":
    LIBRARY_NAME = "m365sync.dll"
else:
    LIBRARY_NAME = "libm365sync.so"


class EngineHandle(Structure):
    """The opaque `m365sync_engine`."""


class SimHandle(Structure):
    """The opaque `m365sync_sim`."""


class CEvent(Structure):
    """`m365sync_event`, borrowed for the duration of a callback."""

    _fields_ = [
        ("seq", c_int64),
        ("kind", c_uint32),
        ("drive_id", c_char_p),
        ("item_id", c_char_p),
        ("path", c_char_p),
        ("old_path", c_char_p),
        ("ctag", c_char_p),
        ("etag", c_char_p),
        ("size", c_int64),
        ("is_folder", c_bool),
        ("at_ms", c_int64),
        ("detail", c_char_p),
    ]


EVENT_CALLBACK = CFUNCTYPE(c_int, c_void_p, POINTER(CEvent))
LOG_CALLBACK = CFUNCTYPE(None, c_void_p, c_uint32, c_char_p, c_char_p)

ENGINE_P = POINTER(EngineHandle)
SIM_P = POINTER(SimHandle)
RESULT = c_uint32
OUT_STRING = POINTER(c_void_p)

# name: (restype, argtypes)
_PROTOTYPES = {
    "m365sync_version": (c_char_p, []),
    "m365sync_result_str": (c_char_p, [c_uint32]),
    "m365sync_last_error": (c_char_p, []),
    "m365sync_event_kind_str": (c_char_p, [c_uint32]),
    "m365sync_string_free": (None, [c_void_p]),
    "m365sync_set_log_callback": (RESULT, [c_uint32, LOG_CALLBACK, c_void_p]),
    "m365sync_engine_new": (RESULT, [c_char_p, POINTER(ENGINE_P)]),
    "m365sync_engine_start": (RESULT, [ENGINE_P]),
    "m365sync_engine_stop": (RESULT, [ENGINE_P]),
    "m365sync_engine_free": (None, [ENGINE_P]),
    "m365sync_engine_set_event_callback": (RESULT, [ENGINE_P, EVENT_CALLBACK, c_void_p]),
    "m365sync_engine_next_events": (
        RESULT,
        [ENGINE_P, c_int64, c_size_t, c_uint32, EVENT_CALLBACK, c_void_p, POINTER(c_size_t)],
    ),
    "m365sync_engine_ack": (RESULT, [ENGINE_P, c_int64]),
    "m365sync_engine_status_json": (RESULT, [ENGINE_P, OUT_STRING]),
    "m365sync_sim_start": (RESULT, [c_char_p, POINTER(SIM_P)]),
    "m365sync_sim_url": (c_char_p, [SIM_P]),
    "m365sync_sim_drives_json": (RESULT, [SIM_P, OUT_STRING]),
    "m365sync_sim_drive_id": (RESULT, [SIM_P, c_size_t, OUT_STRING]),
    "m365sync_sim_engine_config_json": (RESULT, [SIM_P, c_char_p, OUT_STRING]),
    "m365sync_sim_apply": (RESULT, [SIM_P, c_char_p, OUT_STRING]),
    "m365sync_sim_free": (None, [SIM_P]),
}


def candidates() -> Iterator[Path]:
    """Where the library is looked for, in order."""
    here = Path(__file__).resolve().parent
    yield here / LIBRARY_NAME
    yield here.parent / LIBRARY_NAME
    for directory in here.parents:
        target = directory / "target"
        if target.is_dir():
            for profile in ("release", "debug"):
                yield target / profile / LIBRARY_NAME
            return


def find_library() -> Path:
    """`$M365SYNC_LIB`, else the first candidate that exists."""
    explicit = os.environ.get("M365SYNC_LIB")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise OSError(f"M365SYNC_LIB={explicit} is not a file")
        return path
    tried = list(candidates())
    for path in tried:
        if path.is_file():
            return path
    raise OSError(
        f"cannot find {LIBRARY_NAME}: set M365SYNC_LIB, or build it with `cargo build`"
        f" (tried {', '.join(str(p) for p in tried)})"
    )


def _load() -> ctypes.CDLL:
    # CDLL (not PyDLL) releases the GIL during each call, so engine threads can
    # run Python callbacks while the host waits in stop() or free().
    lib = ctypes.CDLL(str(find_library()))
    for name, (restype, argtypes) in _PROTOTYPES.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


_LIB: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use)."""
    global _LIB
    if _LIB is None:
        _LIB = _load()
    return _LIB


def take_string(pointer: c_void_p) -> str:
    """Copies an owned string returned by the library, then frees it."""
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        lib().m365sync_string_free(pointer)


def text(value: Optional[bytes]) -> str:
    """A borrowed C string as `str` (empty for NULL)."""
    return value.decode("utf-8", errors="replace") if value else ""


_H = TypeVar("_H", bound="Handle")


class Handle:
    """Base of the classes owning a native handle: `close()` frees it (idempotent),
    and so do leaving a `with` block and garbage collection."""

    def close(self) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - e.g. at interpreter shutdown
            pass
