"""Result codes and the exceptions they become."""

from __future__ import annotations

import enum
from typing import Callable, Dict, Optional, Type

from . import _lib


class ResultCode(enum.IntEnum):
    """`m365sync_result`: what every fallible C function returns."""

    OK = 0
    INVALID_ARGUMENT = 1
    INVALID_CONFIG = 2
    INVALID_JSON = 3
    AUTH = 4
    GRAPH = 5
    TRANSPORT = 6
    PROTOCOL = 7
    STORE = 8
    IO = 9
    STATE = 10
    STOPPED = 11
    PANIC = 12
    HASH_MISMATCH = 13


class M365SyncError(Exception):
    """A failed m365sync call: `code` says what kind, `message` the details."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message or _describe(code))


class InvalidArgumentError(M365SyncError, ValueError):
    """An argument is invalid (bad UTF-8, out of range, refused by the simulator)."""


class InvalidConfigError(M365SyncError, ValueError):
    """The configuration is malformed, has an unknown key, or a bad value."""


class InvalidJsonError(M365SyncError, ValueError):
    """A JSON argument is malformed."""


class AuthError(M365SyncError):
    """Authentication with the identity endpoint failed."""


class GraphError(M365SyncError):
    """Graph answered with an error status."""


class TransportError(M365SyncError):
    """The network failed after all retries."""


class ProtocolError(M365SyncError):
    """Graph sent an unexpected body."""


class StoreError(M365SyncError):
    """The SQLite store failed."""


class IoError(M365SyncError, OSError):
    """A file could not be read or written."""


class StateError(M365SyncError):
    """The call is not valid in the object's current state."""


class StoppedError(M365SyncError):
    """The engine is stopping."""


class PanicError(M365SyncError):
    """A bug inside the library (a caught Rust panic)."""


class HashMismatchError(M365SyncError):
    """A downloaded file did not match the hash Graph reported (twice; nothing kept)."""


_EXCEPTIONS: Dict[int, Type[M365SyncError]] = {
    ResultCode.INVALID_ARGUMENT: InvalidArgumentError,
    ResultCode.INVALID_CONFIG: InvalidConfigError,
    ResultCode.INVALID_JSON: InvalidJsonError,
    ResultCode.AUTH: AuthError,
    ResultCode.GRAPH: GraphError,
    ResultCode.TRANSPORT: TransportError,
    ResultCode.PROTOCOL: ProtocolError,
    ResultCode.STORE: StoreError,
    ResultCode.IO: IoError,
    ResultCode.STATE: StateError,
    ResultCode.STOPPED: StoppedError,
    ResultCode.PANIC: PanicError,
    ResultCode.HASH_MISMATCH: HashMismatchError,
}


def _describe(code: int) -> str:
    return _lib.text(_lib.lib().m365sync_result_str(code))


def check(code: int, last_error: Optional[Callable[[], Optional[bytes]]] = None) -> None:
    """Raises the exception for `code` with this thread's last error message, read
    with `last_error` (the engine library's `m365sync_last_error` unless given)."""
    if code != ResultCode.OK:
        message = _lib.text((last_error or _lib.lib().m365sync_last_error)())
        raise _EXCEPTIONS.get(code, M365SyncError)(code, message)
