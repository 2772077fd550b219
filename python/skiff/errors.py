"""Errors from skiff, as the broker and the CLI raise them.

Each carries the code the broker gave (``BRK_NOT_FOUND``, ``CLI_USAGE``, ...) in ``.code`` and the broker's
own message. A request the broker refused as wrong (HTTP status 400: a bad worker count, an unknown backend or
option) is also a ``ValueError``, so ``except ValueError`` works as it does for Dask's own cluster classes.
"""

from __future__ import annotations

from typing import Optional


class SkiffError(Exception):
    """A refusal or failure reported by skiff.

    ``code`` is the broker's error code, or None when the command failed without one (a cluster that failed
    to start: the message then holds its reason and last log lines).
    """

    def __init__(self, message: str, code: Optional[str] = None, status: Optional[int] = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]" if self.code else self.message


class SkiffValueError(SkiffError, ValueError):
    """The request was wrong (the broker answered with a 400 code); nothing was created."""


class SkiffNotInstalled(SkiffError, FileNotFoundError):
    """The ``skiff`` command-line tool, which this package drives, was not found."""


def error_from_json(body: dict) -> SkiffError:
    """The exception for ``{"error": {"code", "message", "status", "retryable"}}`` as ``skiff --json`` prints it."""
    e = body.get("error") or {}
    status = e.get("status")
    cls = SkiffValueError if status == 400 else SkiffError
    return cls(str(e.get("message", "skiff failed")), code=e.get("code"), status=status,
               retryable=bool(e.get("retryable", False)))
