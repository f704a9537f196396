"""Python bindings (ctypes) for m365sync, the OneDrive/SharePoint change-detection engine.

`Engine` mirrors drives and reports changes as `Event`s; `Simulator` is a
faithful Graph simulator for testing offline. Failures raise `M365SyncError`
subclasses carrying the library's detailed message.
"""

from . import _lib
from .engine import Engine, EventCallback
from .errors import (
    AuthError,
    GraphError,
    HashMismatchError,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidJsonError,
    IoError,
    M365SyncError,
    PanicError,
    ProtocolError,
    ResultCode,
    StateError,
    StoppedError,
    StoreError,
    TransportError,
)
from .events import Event, EventKind
from .log import LogCallback, LogLevel, forward_to_logging, set_log_callback
from .simulator import Simulator

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the loaded C library."""
    return _lib.text(_lib.lib().m365sync_version())


def library_path() -> str:
    """The file the C library is loaded from."""
    return str(_lib.find_library())


__all__ = [
    "AuthError",
    "Engine",
    "Event",
    "EventCallback",
    "EventKind",
    "GraphError",
    "HashMismatchError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidJsonError",
    "IoError",
    "LogCallback",
    "LogLevel",
    "M365SyncError",
    "PanicError",
    "ProtocolError",
    "ResultCode",
    "Simulator",
    "StateError",
    "StoppedError",
    "StoreError",
    "TransportError",
    "forward_to_logging",
    "library_path",
    "library_version",
    "set_log_callback",
]
