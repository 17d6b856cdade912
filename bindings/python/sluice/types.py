"""Values returned by the Sluice client: jobs, events, search hits,
documents. Plain frozen dataclasses built from the server's maps; the
whole map is kept in ``raw`` so fields added by newer servers are not lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

TERMINAL_EVENTS = ("job_completed", "job_failed", "job_cancelled")
TERMINAL_STATES = ("completed", "failed", "cancelled")


def _str(m: Mapping[str, Any], key: str) -> Optional[str]:
    v = m.get(key)
    return v if isinstance(v, str) else None


def _int(m: Mapping[str, Any], key: str, default: int = 0) -> int:
    v = m.get(key)
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


@dataclass(frozen=True)
class Job:
    """An ingest job (docs/protocol.md §4). ``state`` is one of queued,
    fetching, parsing, chunking, embedding, storing, completed, failed,
    cancelled. ``held``: accepted while its workspace was paused, not
    started until it is resumed."""

    id: str
    state: str
    stage: Optional[str]
    percent: int
    source: Optional[str]
    document_id: Optional[str]
    error: Optional[str]
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @property
    def terminal(self) -> bool:
        """True once the job has completed, failed or been cancelled."""
        return self.state in TERMINAL_STATES

    @property
    def completed(self) -> bool:
        return self.state == "completed"

    @property
    def held(self) -> bool:
        return self.raw.get("held") is True

    @property
    def run(self) -> int:
        """0 for the job's first run, one more at each retry."""
        return self.raw.get("run") or 0

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> "Job":
        return cls(id=_str(m, "id") or "", state=_str(m, "state") or "", stage=_str(m, "stage"),
                   percent=_int(m, "percent"), source=_str(m, "source"),
                   document_id=_str(m, "document_id"), error=_str(m, "error"), raw=dict(m))


@dataclass(frozen=True)
class Event:
    """One event of a job, flat like the SSE stream's ``data:`` line.
    ``seq`` grows by one per job (the SSE event id); ``type`` is job_started,
    stage_started, stage_progress, stage_completed, stage_retry,
    dead_letter, job_completed, job_failed, job_cancelled or job_held (newer
    servers may add more)."""

    seq: int
    type: str
    job: str
    ts: int
    stage: Optional[str]
    percent: Optional[int]
    message: Optional[str]
    reason: Optional[str]
    document_id: Optional[str]
    data: Dict[str, Any] = field(repr=False, compare=False)

    @property
    def terminal(self) -> bool:
        """True for job_completed, job_failed and job_cancelled: the end of
        a run (a retried job goes on with its next run)."""
        return self.type in TERMINAL_EVENTS

    @property
    def run(self) -> int:
        """The run of the job this event belongs to (0, one more per retry)."""
        return self.data.get("run") or 0

    @classmethod
    def from_map(cls, m: Mapping[str, Any], job: str) -> "Event":
        # Stored events keep their fields under "data"; live ones are flat
        flat: Dict[str, Any] = {k: v for k, v in m.items() if not (k == "data" and isinstance(v, dict))}
        inner = m.get("data")
        if isinstance(inner, dict):
            for k, v in inner.items():
                flat.setdefault(k, v)
        flat.setdefault("job", job)
        percent = flat.get("percent")
        return cls(seq=_int(flat, "seq"), type=_str(flat, "type") or "message", job=_str(flat, "job") or job,
                   ts=_int(flat, "ts"), stage=_str(flat, "stage"),
                   percent=int(percent) if isinstance(percent, int) and not isinstance(percent, bool) else None,
                   message=_str(flat, "message"), reason=_str(flat, "reason"),
                   document_id=_str(flat, "document_id"), data=flat)


@dataclass(frozen=True)
class Hit:
    """A chunk matching a search, best first. ``score`` is the cosine
    similarity to the query; ``match`` says which ranking found it:
    ``"vector"``, ``"lexical"`` (every significant query word is in the
    text) or ``"both"``. ``kind`` is ``"text"`` or ``"table"`` (Markdown
    rows, header row first), ``section`` the section path
    (``"Installation › Configuring the network"``, ``""`` for none);
    ``ocr`` says the text was read by OCR, with ``ocr_confidence`` 0-100
    (``None`` when not).

    ``highlights`` are the spans of ``text`` holding the words the lexical
    ranking matched (stemmed as the index stems them), as ``(start, end)``
    code-point offsets, sorted: ``text[start:end]`` is the word.
    ``mime`` is the document's type and ``document_url`` the HTTP edge's
    link to its stored bytes, at the hit's page for a PDF
    (``/v1/documents/<id>/content#page=3``); :meth:`Client.content`
    fetches those bytes through the broker."""

    score: float
    text: str
    document_id: str
    chunk_id: str
    title: Optional[str]
    source: Optional[str]
    page_start: int
    page_end: int
    match: str = "vector"
    kind: str = "text"
    section: str = ""
    ocr: bool = False
    ocr_confidence: Optional[int] = None
    highlights: Tuple[Tuple[int, int], ...] = ()
    mime: Optional[str] = None

    @property
    def document_url(self) -> str:
        """The edge's link to the document, at the hit's page for a PDF."""
        url = "/v1/documents/%s/content" % self.document_id
        if self.mime == "application/pdf" and self.page_start > 0:
            url += "#page=%d" % self.page_start
        return url

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> "Hit":
        score = m.get("score")
        return cls(score=float(score) if isinstance(score, (int, float)) else 0.0, text=_str(m, "text") or "",
                   document_id=_str(m, "document_id") or "", chunk_id=_str(m, "chunk_id") or "",
                   title=_str(m, "title"), source=_str(m, "source"), page_start=_int(m, "page_start"),
                   page_end=_int(m, "page_end"), match=_str(m, "match") or "vector",
                   kind=_str(m, "kind") or "text", section=_str(m, "section") or "",
                   ocr=m.get("ocr") is True,
                   ocr_confidence=_int(m, "ocr_confidence") if m.get("ocr") is True else None,
                   highlights=_spans(m.get("highlights")), mime=_str(m, "mime"))


def _spans(value: Any) -> Tuple[Tuple[int, int], ...]:
    """[[start, end], ...] as pairs of ints; anything malformed is dropped."""
    out = []
    for span in value if isinstance(value, list) else ():
        if (isinstance(span, (list, tuple)) and len(span) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in span)):
            out.append((span[0], span[1]))
    return tuple(out)


@dataclass(frozen=True)
class Document:
    """A stored document."""

    id: str
    title: Optional[str]
    source: Optional[str]
    mime: Optional[str]
    sha256: Optional[str]
    pages: int
    chunks: int
    bytes: int
    state: Optional[str]
    raw: Dict[str, Any] = field(repr=False, compare=False)
    #  how it was cut: {"target_tokens", "overlap_tokens", "embed_context"}, None if not recorded
    chunking: Optional[Dict[str, Any]] = None
    meta: Dict[str, Any] = field(default_factory=dict, compare=False)   # its attributes

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> "Document":
        chunking = m.get("chunking")
        meta = m.get("meta")
        return cls(id=_str(m, "id") or "", title=_str(m, "title"), source=_str(m, "source"),
                   mime=_str(m, "mime"), sha256=_str(m, "sha256"), pages=_int(m, "pages"),
                   chunks=_int(m, "chunks"), bytes=_int(m, "bytes"), state=_str(m, "state"), raw=dict(m),
                   chunking=dict(chunking) if isinstance(chunking, dict) else None,
                   meta=dict(meta) if isinstance(meta, dict) else {})


@dataclass(frozen=True)
class DocumentPage:
    """One page of the document list, and how many there are in all."""

    documents: List[Document]
    total: int
