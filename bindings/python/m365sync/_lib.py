"""Loading the m365sync C library and declaring its functions for ctypes."""

from __future__ import annotations

import ctypes
import json
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, TypeVar


def _library_file(stem: str) -> str:
    """The platform's file name of the C library `stem`."""
    if sys.platform == "darwin":
        return f"lib{stem}.dylib"
    if sys.platform == "win32":
        return f"{stem}.dll"
    return f"lib{stem}.so"


LIBRARY_NAME = _library_file("m365sync")
SIM_LIBRARY_NAME = _library_file("m365sync_sim")


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
        ("facets_json", c_char_p),
    ]


EVENT_CALLBACK = CFUNCTYPE(c_int, c_void_p, POINTER(CEvent))
WRITE_CALLBACK = CFUNCTYPE(c_int32, c_void_p, POINTER(c_uint8), c_size_t)
LOG_CALLBACK = CFUNCTYPE(None, c_void_p, c_uint32, c_char_p, c_char_p)

ENGINE_P = POINTER(EngineHandle)
SIM_P = POINTER(SimHandle)
RESULT = c_uint32
OUT_STRING = POINTER(c_void_p)

# name: (restype, argtypes)
_Prototypes = Dict[str, Tuple[Any, List[Any]]]
_PROTOTYPES: _Prototypes = {
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
    "m365sync_engine_download": (RESULT, [ENGINE_P, c_char_p, c_char_p, c_char_p, OUT_STRING]),
    "m365sync_engine_download_to": (
        RESULT,
        [ENGINE_P, c_char_p, c_char_p, WRITE_CALLBACK, c_void_p, OUT_STRING],
    ),
    "m365sync_engine_pending_downloads_json": (RESULT, [ENGINE_P, c_char_p, c_size_t, OUT_STRING]),
    "m365sync_engine_effective_permissions_json": (
        RESULT,
        [ENGINE_P, c_char_p, c_char_p, OUT_STRING],
    ),
    "m365sync_engine_items_with_grants_json": (
        RESULT,
        [ENGINE_P, c_char_p, c_char_p, c_size_t, OUT_STRING],
    ),
}

# The simulator's library (a test double, shipped apart from the engine's).
_SIM_PROTOTYPES: _Prototypes = {
    "m365sync_sim_last_error": (c_char_p, []),
    "m365sync_sim_string_free": (None, [c_void_p]),
    "m365sync_sim_start": (RESULT, [c_char_p, POINTER(SIM_P)]),
    "m365sync_sim_url": (c_char_p, [SIM_P]),
    "m365sync_sim_drives_json": (RESULT, [SIM_P, OUT_STRING]),
    "m365sync_sim_drive_id": (RESULT, [SIM_P, c_size_t, OUT_STRING]),
    "m365sync_sim_engine_config_json": (RESULT, [SIM_P, c_char_p, OUT_STRING]),
    "m365sync_sim_apply": (RESULT, [SIM_P, c_char_p, OUT_STRING]),
    "m365sync_sim_tenant_count": (RESULT, [SIM_P, POINTER(c_uint32)]),
    "m365sync_sim_tenant_json": (RESULT, [SIM_P, c_uint32, OUT_STRING]),
    "m365sync_sim_tenant_engine_config_json": (RESULT, [SIM_P, c_uint32, c_char_p, OUT_STRING]),
    "m365sync_sim_free": (None, [SIM_P]),
}


def candidates(name: str = LIBRARY_NAME, package_dir: Optional[Path] = None) -> Iterator[Path]:
    """Where the library file `name` is looked for, in order: the package directory
    (`package_dir`, by default this module's: where `pip install` puts the libraries)
    and the one above it; then, for developers running from a source checkout, the
    cargo target directories, `release` before `debug` in each: `$CARGO_TARGET_DIR`
    (where cargo builds when it is set), then the `target/` of the nearest directory
    above the package that has one."""
    here = package_dir or Path(__file__).resolve().parent
    yield here / name
    yield here.parent / name
    explicit = os.environ.get("CARGO_TARGET_DIR")
    enclosing = next((d / "target" for d in here.parents if (d / "target").is_dir()), None)
    for target in (Path(explicit).absolute() if explicit else None, enclosing):
        if target is None:
            continue
        for profile in ("release", "debug"):
            yield target / profile / name


def _find(name: str, variable: str, beside: Optional[Path]) -> Path:
    """`$variable`, else the file beside `beside`, else the first candidate."""
    explicit = os.environ.get(variable)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise OSError(f"{variable}={explicit} is not a file")
        return path
    tried = ([beside.parent / name] if beside else []) + list(candidates(name))
    for path in tried:
        if path.is_file():
            return path
    raise OSError(
        f"cannot find {name}: install the package with `pip install ./bindings/python`"
        f" (it bundles the library), set {variable}, or build it with `cargo build`"
        f" (tried {', '.join(str(p) for p in tried)})"
    )


def find_library() -> Path:
    """The engine's library: `$M365SYNC_LIB`, else the first candidate that exists."""
    return _find(LIBRARY_NAME, "M365SYNC_LIB", None)


def find_sim_library() -> Path:
    """The simulator's library: `$M365SYNC_SIM_LIB`, else beside the engine's."""
    try:
        engine = find_library()
    except OSError:
        engine = None
    return _find(SIM_LIBRARY_NAME, "M365SYNC_SIM_LIB", engine)


def _load(path: Path, prototypes: _Prototypes) -> ctypes.CDLL:
    # CDLL (not PyDLL) releases the GIL during each call, so engine threads can
    # run Python callbacks while the host waits in stop() or free().
    loaded = ctypes.CDLL(str(path))
    for name, (restype, argtypes) in prototypes.items():
        function = getattr(loaded, name)
        function.restype = restype
        function.argtypes = argtypes
    return loaded


_LIB: Optional[ctypes.CDLL] = None
_SIM_LIB: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The engine's library (loaded on first use)."""
    global _LIB
    if _LIB is None:
        _LIB = _load(find_library(), _PROTOTYPES)
    return _LIB


def sim_lib() -> ctypes.CDLL:
    """The simulator's library (loaded on first use)."""
    global _SIM_LIB
    if _SIM_LIB is None:
        _SIM_LIB = _load(find_sim_library(), _SIM_PROTOTYPES)
    return _SIM_LIB


def take_string(pointer: c_void_p, free: Optional[Any] = None) -> str:
    """Copies an owned string returned by a library, then frees it with `free`
    (the engine's `m365sync_string_free` unless given)."""
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        (free or lib().m365sync_string_free)(pointer)


def json_object(text: str) -> Dict[str, Any]:
    """A library's JSON answer that must be an object; ValueError when it is not."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object from the library, got {text[:80]!r}")
    return value


def json_objects(text: str) -> List[Dict[str, Any]]:
    """A library's JSON answer that must be an array of objects; ValueError when it is not."""
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"expected a JSON array of objects from the library, got {text[:80]!r}")
    return value


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
