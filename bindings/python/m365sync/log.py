"""Forwarding the library's log messages to Python."""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable, Optional

from . import _lib
from .errors import check


class LogLevel(enum.IntEnum):
    """`m365sync_log_level`; a higher number is more verbose."""

    OFF = 0
    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4
    TRACE = 5


#: Receives (level, target module, message); may run on any m365sync thread.
LogCallback = Callable[[LogLevel, str, str], None]

_PYTHON_LEVELS = {
    LogLevel.ERROR: logging.ERROR,
    LogLevel.WARN: logging.WARNING,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.TRACE: logging.DEBUG,
}

# The trampoline C holds; replaced only after C stopped using the previous one.
_trampoline: Optional[Any] = None


def set_log_callback(callback: Optional[LogCallback], level: LogLevel = LogLevel.INFO) -> None:
    """Sends the library's messages up to `level` to `callback` (None: off).
    One callback per process; it may run on any m365sync thread. Exceptions
    it raises are swallowed (they must not reach C)."""
    global _trampoline
    if callback is None:
        check(_lib.lib().m365sync_set_log_callback(LogLevel.OFF, _lib.LOG_CALLBACK(), None))
        _trampoline = None
        return

    def trampoline(_userdata: Optional[int], c_level: int, target: bytes, message: bytes) -> None:
        try:
            callback(LogLevel(c_level), _lib.text(target), _lib.text(message))
        except BaseException:  # noqa: BLE001 - nothing may propagate into C
            pass

    new = _lib.LOG_CALLBACK(trampoline)
    check(_lib.lib().m365sync_set_log_callback(level, new, None))
    _trampoline = new


def forward_to_logging(level: LogLevel = LogLevel.INFO, logger: str = "m365sync") -> None:
    """Sends the library's messages up to `level` to the `logging` logger `logger`."""
    python_logger = logging.getLogger(logger)

    def emit(message_level: LogLevel, target: str, message: str) -> None:
        python_logger.log(_PYTHON_LEVELS.get(message_level, logging.DEBUG), "%s: %s", target, message)

    set_log_callback(emit, level)
