"""Errors raised by the Sluice client.

Every failure is a :class:`SluiceError` carrying the server's HTTP-like
``status`` (400, 404, 413, 429, 503...; 0 when the failure is local) and a
message a person can act on. Callers branch on the subclass:

================  ======================================================
:class:`Busy`     the server is saturated and did nothing; retry after
                  ``retry_after`` seconds (``retry_ms`` milliseconds)
:class:`Timeout`  no answer in time: the request may or may not have been
                  carried out (ingest calls are safe to repeat with the
                  same ``job_id``)
:class:`NotFound` no such job, document or upload in this workspace
:class:`Refused`  the server refused the request (400, 409, 413, 415...)
:class:`Unavailable` no worker serves the service right now (503)
:class:`AuthError` the security handshake failed (CURVE key refused, or
                  the wrong broker key)
:class:`ProtocolError` an answer that could not be understood
:class:`InternalError` the server failed (500)
================  ======================================================
"""
from __future__ import annotations

from typing import Optional


class SluiceError(Exception):
    """Base class: ``status`` (HTTP-like, 0 if local) and ``message``."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return "%s (%d)" % (self.message, self.status) if self.status else self.message


class Busy(SluiceError):
    """Saturated, nothing done: wait ``retry_after`` seconds and try again."""

    def __init__(self, message: str, retry_ms: int = 1000, status: int = 429) -> None:
        super().__init__(message, status)
        self.retry_ms = int(retry_ms) if retry_ms and retry_ms > 0 else 1000

    @property
    def retry_after(self) -> float:
        """Seconds to wait before retrying."""
        return self.retry_ms / 1000.0


class Timeout(SluiceError):
    """No answer in time; the request may or may not have been done. From
    an ingest call, ``job_id`` is the job id that was asked for: calling
    again with ``job_id=`` that id is safe."""

    job_id: Optional[str] = None


class NotFound(SluiceError):
    """No such job, document or upload in this workspace."""


class Refused(SluiceError):
    """The server refused the request as it stands (4xx)."""


class Unavailable(SluiceError):
    """No worker serves the service right now (503), or the broker asked is
    the passive one of a pair (421: connect to the other)."""


class AuthError(SluiceError):
    """The security handshake failed: key refused, or wrong broker key."""


class ProtocolError(SluiceError):
    """An answer that could not be understood."""


class InternalError(SluiceError):
    """The server failed (500)."""


def for_status(status: int, message: str, retry_ms: Optional[int] = None) -> SluiceError:
    """The exception for an HTTP-like status from the server."""
    if status == 429:
        return Busy(message, retry_ms or 1000, status)
    if status == 404:
        return NotFound(message, status)
    if status in (408, 504):
        return Timeout(message, status)
    if status in (503, 421):
        return Unavailable(message, status)
    if 400 <= status < 500:
        return Refused(message, status)
    return InternalError(message, status)
