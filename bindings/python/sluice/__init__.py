"""sluice: Python client of Sluice, the document-ingestion engine.

Speaks the broker protocol over ZeroMQ (docs/protocol.md §5) with
python3-zmq and python3-msgpack; no compiled code of its own::

    import sluice

    with sluice.Client("tcp://127.0.0.1:5555") as client:
        job = client.ingest_file("report.pdf")          # bytes go in 1 MiB parts
        for event in client.events(job.id):             # live, exactly once, in order
            print(event.seq, event.type, event.stage, event.percent)
        for hit in client.search("quarterly revenue", k=3):
            print(hit.score, hit.title, hit.text[:80])

Failures raise :class:`SluiceError` subclasses; :class:`Busy` means the
server is saturated and did nothing (retry after ``e.retry_after`` s).
A client belongs to one thread at a time; use one per thread.
"""
from .client import PART_MAX, Client, Watch
from .errors import (AuthError, Busy, InternalError, NotFound, ProtocolError, Refused, SluiceError, Timeout,
                     Unavailable)
from .types import Document, DocumentPage, Event, Hit, Job

__version__ = "0.1.0"

__all__ = ["Client", "Watch", "PART_MAX", "Job", "Event", "Hit", "Document", "DocumentPage", "SluiceError",
           "Busy", "Timeout", "NotFound", "Refused", "Unavailable", "AuthError", "ProtocolError",
           "InternalError", "__version__"]
