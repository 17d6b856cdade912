"""The Sluice client: the broker protocol (docs/protocol.md §2, §4, §5)
over ZeroMQ, with python3-zmq and python3-msgpack.

A :class:`Client` owns one DEALER socket to the broker; each call sends a
command with a fresh correlation id and waits for the answer carrying it
(answers to earlier calls that timed out are recognised and dropped). A
:class:`Watch` owns one SUB socket on the broker's event endpoint and
follows jobs the way the HTTP edge's SSE stream does: subscribe first,
then read what was stored, drop duplicates by ``seq``, re-read on a gap
and when nothing has been heard for a while.

Threads: a client (and its watches) must be used by one thread at a time,
like the ZeroMQ sockets inside it; use one client per thread. Values
returned (jobs, events, hits, documents) are immutable and may be shared.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import time
from typing import Any, BinaryIO, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import msgpack
import zmq

from . import errors
from .errors import AuthError, Busy, NotFound, ProtocolError, Refused, SluiceError, Timeout, Unavailable
from .types import Document, DocumentPage, Event, Hit, Job

__all__ = ["Client", "Watch", "PART_MAX"]

PROTO_TAG = "SLP1"
CMD_SUBMIT, CMD_ACCEPTED, CMD_BUSY, CMD_ERROR, CMD_REQUEST, CMD_REPLY, CMD_STATS, CMD_RESULT = 7, 8, 9, 10, 11, 12, 15, 18
PART_MAX = 1 << 20              # the upload service's part limit (1 MiB)
MAX_MSG_SIZE = 64 << 20         # largest message part accepted (the broker's broker.max_msg_size default)
DEFAULT_TIMEOUT = 10.0
REQUERY_MIN = 0.25
REQUERY_MAX = 5.0
TERMINAL_GRACE = 5.0
TERMINAL_POLL = 0.25
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED)


def _new_id() -> str:
    return os.urandom(16).hex()


def _check_token(value: str, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise Refused("%s must be 1..64 characters of [A-Za-z0-9_.-], not %r" % (what, value))
    return value


def _check_meta(meta: Mapping[str, Any]) -> Dict[str, Any]:
    """Attributes go as they are (the server checks them fully); only what
    cannot be a JSON object of them is refused here."""
    if not isinstance(meta, Mapping):
        raise Refused("meta must be a mapping such as {'team': 'legal', 'year': 2024}")
    return dict(meta)


def _load_cert(path: str) -> Tuple[bytes, Optional[bytes]]:
    """(public, secret) keys of a certificate written by `sluiced --keygen`."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        raise SluiceError("cannot read CURVE certificate %s: %s" % (path, e.strerror))
    public = re.search(r'public-key\s*=\s*"([^"]{40})"', text)
    secret = re.search(r'secret-key\s*=\s*"([^"]{40})"', text)
    if not public:
        raise SluiceError("%s is not a CURVE certificate" % path)
    return public.group(1).encode(), secret.group(1).encode() if secret else None


class Client:
    """A connection to a Sluice broker.

    ``endpoint`` is the broker's ROUTER (``tcp://host:5555``), or a broker
    pair's two, comma-separated (``tcp://a:5555,tcp://b:5555``): a call the
    passive one refuses goes to the other, and after a silence the next
    call does; watches listen to both. For a broker
    that requires CURVE, give ``client_cert`` (this client's *secret*
    certificate file, ``PATH_secret`` from ``sluiced --keygen``) and
    ``broker_cert`` (the broker's public certificate), or ``curve_keys`` =
    (public, secret, broker_public) as Z85 strings. ``timeout`` (seconds)
    is the default for every call; each call also takes its own.

    Use as a context manager, or call :meth:`close`::

        with sluice.Client("tcp://127.0.0.1:5555") as c:
            job = c.ingest_file("report.pdf")
            for event in c.events(job.id):
                print(event.type, event.stage, event.percent)
            print(c.search("quarterly revenue", k=3))
    """

    def __init__(self, endpoint: str, *, workspace: str = "default", timeout: float = DEFAULT_TIMEOUT,
                 events_endpoint: Optional[str] = None, client_cert: Optional[str] = None,
                 broker_cert: Optional[str] = None, curve_keys: Optional[Tuple[str, str, str]] = None,
                 connect: bool = True, context: Optional[zmq.Context] = None) -> None:
        # A broker pair is given as "tcp://a:5555,tcp://b:5555": calls go to
        # one, and move to the other when it says it stands by (421) or
        # falls silent (docs/protocol.md, "A pair")
        endpoints = endpoint.split(",") if isinstance(endpoint, str) else []
        if not endpoints or len(endpoints) > 8 or any("://" not in e for e in endpoints):
            raise Refused("not a ZeroMQ endpoint (or a comma list of up to 8): %r" % (endpoint,))
        self.endpoints = endpoints
        self._current = 0
        self.workspace = _check_token(workspace, "workspace")
        self.timeout = float(timeout) if timeout and timeout > 0 else DEFAULT_TIMEOUT
        if events_endpoint:
            self.events_endpoints = events_endpoint.split(",")
        else:
            derived = [self._events_from(e) for e in endpoints]
            self.events_endpoints = derived if all(derived) else []
        self.events_endpoint = ",".join(self.events_endpoints) or None
        self._keys: Optional[Tuple[bytes, bytes, bytes]] = None
        if curve_keys:
            public, secret, broker = (k.encode() if isinstance(k, str) else k for k in curve_keys)
            self._keys = (public, secret, broker)
        elif client_cert or broker_cert:
            if not (client_cert and broker_cert):
                raise SluiceError("CURVE needs both client_cert and broker_cert")
            public, secret = _load_cert(client_cert)
            if not secret:
                raise SluiceError("%s holds no secret key: pass the _secret file" % client_cert)
            self._keys = (public, secret, _load_cert(broker_cert)[0])
        self._ctx = context or zmq.Context.instance()
        self._dealer: Optional[zmq.Socket] = None
        self._monitor: Optional[zmq.Socket] = None
        self._refused: Optional[AuthError] = None     # why the last handshake failed
        self._watches: List["Watch"] = []
        if connect:
            self.connect()

    # -- connection --------------------------------------------------------

    @staticmethod
    def _events_from(endpoint: str) -> Optional[str]:
        m = re.match(r"^(tcp://.+):(\d+)$", endpoint)
        return "%s:%d" % (m.group(1), int(m.group(2)) + 1) if m else None

    def _secure(self, sock: zmq.Socket) -> None:
        # A broker (or something posing as one) cannot make us hold a
        # huge message: libzmq drops a link that sends a larger part
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MSG_SIZE)
        if self._keys:
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = self._keys

    @property
    def endpoint(self) -> str:
        """The broker this client talks to now (one of :attr:`endpoints`)."""
        return self.endpoints[self._current]

    def _open(self) -> None:
        dealer = self._ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        self._secure(dealer)
        # Watch the security handshake so a refused key is an answer,
        # not a silence until the timeout
        self._monitor = dealer.get_monitor_socket(_HANDSHAKE_EVENTS)
        dealer.connect(self.endpoint)
        self._dealer = dealer

    def _close_dealer(self) -> None:
        if self._dealer is not None:
            try:
                self._dealer.disable_monitor()
            except zmq.ZMQError:
                pass
            if self._monitor is not None:
                self._monitor.close(0)
            self._dealer.close(0)
        self._dealer = self._monitor = None

    def _move(self) -> None:
        """To the next broker of the list, on a new socket (a moved DEALER
        could still hand a message to the pipe being torn down)."""
        self._close_dealer()
        self._current = (self._current + 1) % len(self.endpoints)
        self._refused = None
        self._open()

    def connect(self, timeout: Optional[float] = None) -> None:
        """Open the connection and check the broker answers and accepts this
        client's key. Raises :class:`Timeout` or :class:`AuthError`."""
        if self._dealer is None:
            self._open()
        # each broker of a pair in turn (a silent one moves the next call on)
        for _ in self.endpoints:
            tried = self.endpoint
            try:
                self._call({"c": CMD_STATS}, (), timeout)
                return
            except Timeout:
                pass
        raise Timeout("no answer from the broker at %s within %.1f s (is it running? does it need CURVE "
                      "keys?)" % (tried if len(self.endpoints) == 1 else ",".join(self.endpoints),
                                  timeout or self.timeout))

    def close(self) -> None:
        """Close the sockets (and any watch still open). Safe to call twice."""
        for w in list(self._watches):
            w.close()
        self._close_dealer()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- one round trip ----------------------------------------------------

    def _handshake_event(self) -> Optional[AuthError]:
        """Read one handshake report: the failure it tells of, or None."""
        from zmq.utils.monitor import recv_monitor_message
        assert self._monitor is not None
        event = recv_monitor_message(self._monitor)
        kind, value = event.get("event"), event.get("value")
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._refused = None
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._refused = AuthError("the broker refused this client's CURVE key (status %s): its public key "
                                      "must be in the broker's curve.client_keys (or curve.worker_keys)" % value, 401)
        elif not self._keys:
            self._refused = AuthError("security handshake with %s failed: the broker requires CURVE keys"
                                      % self.endpoint, 401)
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            self._refused = AuthError("security handshake with %s failed (protocol error 0x%x): is the broker's "
                                      "public key right?" % (self.endpoint, value or 0), 401)
        else:
            self._refused = AuthError("security handshake with %s failed: wrong broker public key?"
                                      % self.endpoint, 401)
        return self._refused

    def _handshake_refused(self) -> Optional[AuthError]:
        """Take every pending report; the failure if the last one failed."""
        assert self._monitor is not None
        while self._monitor.poll(0):
            self._handshake_event()
        return self._refused

    def _call(self, header: Dict[str, Any], frames: Sequence[bytes], timeout: Optional[float]
              ) -> Tuple[Dict[str, Any], List[bytes]]:
        """One round trip. With a pair: a call the broker refused as passive
        (421: nothing was done) goes to the other within the same timeout;
        a call met with silence raises Timeout (it may have been done: only
        the caller can tell whether to ask again) and the next call goes to
        the other broker."""
        if self._dealer is None:
            raise SluiceError("not connected: call connect() first")
        timeout = timeout if timeout and timeout > 0 else self.timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call_once(header, frames, max(0.001, deadline - time.monotonic()))
            except Unavailable as e:
                if len(self.endpoints) < 2 or e.status != 421 or time.monotonic() >= deadline:
                    raise
                # 0: its peer is alive, go there; > 0: ask again then
                wait = min(e.retry_ms / 1000.0, max(0.0, deadline - time.monotonic()))
                if wait <= 0:
                    self._move()
                else:
                    time.sleep(wait)
            except Timeout:
                if len(self.endpoints) > 1:
                    self._move()
                raise

    def _call_once(self, header: Dict[str, Any], frames: Sequence[bytes], timeout: float
                   ) -> Tuple[Dict[str, Any], List[bytes]]:
        corr = _new_id()
        assert self._monitor is not None
        msg = [msgpack.packb(dict(header, p=PROTO_TAG, corr=corr))] + list(frames)
        # A DEALER with no connected peer blocks on send: bound the wait by
        # the call's timeout (by a second if the last handshake was refused:
        # then no peer is likely to appear), and see whether that is why
        refused = self._handshake_refused()
        self._dealer.setsockopt(zmq.SNDTIMEO, max(1, int(min(timeout, 1.0 if refused else timeout) * 1000)))
        try:
            self._dealer.send_multipart(msg, copy=False)
        except zmq.Again:
            raise self._handshake_refused() or Timeout("cannot reach the broker at %s within %.1f s"
                                                       % (self.endpoint, timeout))
        poller = zmq.Poller()
        poller.register(self._dealer, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                # Silence: if the last handshake failed (perhaps before this
                # call began, and ZeroMQ may not try again), that is why
                raise self._handshake_refused() or Timeout("no answer from the broker at %s within %.1f s"
                                                           % (self.endpoint, timeout))
            ready = dict(poller.poll(max(1, int(left * 1000))))
            if self._monitor in ready:
                failure = self._handshake_event()
                if failure:
                    raise failure
            if self._dealer not in ready:
                continue
            reply = self._dealer.recv_multipart()
            try:
                h = msgpack.unpackb(reply[0], raw=False)
            except Exception:
                continue
            if not isinstance(h, dict) or h.get("corr") != corr:
                continue                    # the answer to an earlier call that timed out
            c = h.get("c")
            if c == CMD_BUSY:
                svc = (h.get("svc") or ["service"])[0]
                retry = int(h.get("retry_ms") or 1000)
                raise Busy("the %s queue is full (%s waiting): retry in %d ms" % (svc, h.get("depth", "?"), retry),
                           retry)
            if c == CMD_ERROR:
                code = int(h.get("code") or 500)
                reason = "broker: %s" % h.get("reason", "error")
                if code == 400:
                    raise Refused(reason, code)
                e = errors.for_status(code, reason)
                if code == 421:
                    e.retry_ms = int(h.get("retry_ms") or 0)
                raise e
            return h, reply[1:]

    def _request(self, service: str, kind: str, body: Dict[str, Any], timeout: Optional[float] = None,
                 job: str = "") -> Dict[str, Any]:
        timeout = timeout if timeout and timeout > 0 else self.timeout
        now = int(time.time() * 1000)
        env = msgpack.packb({"v": 1, "id": _new_id(), "kind": kind, "job": job, "ws": self.workspace,
                             "route": [service], "att": 0, "max": 3, "dl": now + int(timeout * 1000), "ts": now,
                             "body": msgpack.packb(body)})
        _, frames = self._call({"c": CMD_REQUEST, "timeout": int(timeout * 1000)}, [env], timeout)
        try:
            reply = msgpack.unpackb(frames[0], raw=False) if frames else None
        except Exception as e:
            raise ProtocolError("%s/%s: unreadable reply (%s)" % (service, kind, e), 502)
        if not isinstance(reply, dict):
            raise ProtocolError("%s/%s: reply is not a map" % (service, kind), 502)
        error = reply.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            status = code if isinstance(code, int) and 400 <= code <= 599 else 500
            retry = error.get("retry_ms") or (error.get("retry_after") or 0) * 1000 or 1000
            raise errors.for_status(status, str(error.get("message") or "request failed"), int(retry))
        return reply

    def call(self, service: str, kind: str, body: Optional[Dict[str, Any]] = None,
             timeout: Optional[float] = None) -> Dict[str, Any]:
        """One request to ``service``/``kind`` (docs/protocol.md §4-5); the
        reply map, or the error it carried raised as an exception."""
        return self._request(service, kind, body or {}, timeout)

    def stats(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The broker's statistics (queues, workers per service)."""
        _, frames = self._call({"c": CMD_STATS}, (), timeout)
        return msgpack.unpackb(frames[0], raw=False)

    # -- submitting --------------------------------------------------------

    def _ingest(self, body: Dict[str, Any], job_id: Optional[str], timeout: Optional[float],
                meta: Optional[Mapping[str, Any]] = None) -> Job:
        job = _check_token(job_id, "job_id") if job_id else _new_id()
        if meta is not None:
            body = dict(body, meta=_check_meta(meta))
        try:
            reply = self._request("intake", "ingest", body, timeout, job=job)
        except Timeout as e:
            e.job_id = job      # type: ignore[attr-defined]  # retry with it: same job, not a second
            raise
        if not isinstance(reply.get("job"), dict):
            raise ProtocolError("intake/ingest: reply without a job", 502)
        return Job.from_map(reply["job"])

    def ingest_url(self, url: str, *, job_id: Optional[str] = None, timeout: Optional[float] = None,
                   meta: Optional[Mapping[str, Any]] = None) -> Job:
        """Ingest the document at an http(s) URL. ``job_id`` names the job
        (else a random one): repeating a call with the same id after a
        :class:`Timeout` returns that job instead of making a second (the
        exception's ``job_id`` attribute holds the id that was asked for).
        ``meta``: the document's attributes (strings, numbers, booleans,
        dates as "2024-03-01" strings, or lists of those), which replace
        any it had; without it a document ingested again keeps its own."""
        if not isinstance(url, str) or not re.match(r"^https?://", url) or len(url) > 2000:
            raise Refused("url must be an http or https URL of at most 2000 characters")
        return self._ingest({"url": url}, job_id, timeout, meta)

    def ingest_bytes(self, data: Union[bytes, bytearray, memoryview], *, filename: Optional[str] = None,
                     mime: Optional[str] = None, job_id: Optional[str] = None,
                     timeout: Optional[float] = None, meta: Optional[Mapping[str, Any]] = None) -> Job:
        """Ingest bytes, sent to the upload service in 1 MiB parts."""
        data = bytes(data)
        return self.ingest_stream(io.BytesIO(data), size=len(data), filename=filename, mime=mime,
                                  job_id=job_id, timeout=timeout, meta=meta)

    def ingest_file(self, path: Union[str, "os.PathLike[str]"], *, mime: Optional[str] = None,
                    job_id: Optional[str] = None, timeout: Optional[float] = None,
                    meta: Optional[Mapping[str, Any]] = None) -> Job:
        """Ingest a file, streamed from disk in 1 MiB parts."""
        path = os.fspath(path)
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return self.ingest_stream(f, size=size, filename=os.path.basename(path), mime=mime,
                                      job_id=job_id, timeout=timeout, meta=meta)

    def upload(self, stream: BinaryIO, *, size: Optional[int] = None, filename: Optional[str] = None,
               mime: Optional[str] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Put the bytes of ``stream`` into the server's blob area through
        the upload service; returns ``{blob, size, filename, mime}``.
        ``timeout`` bounds each round trip (one part), not the whole upload."""
        first = stream.read(PART_MAX)
        if not first:
            raise Refused("the document is empty: there is nothing to ingest", 400)
        more = stream.read(PART_MAX) if len(first) < PART_MAX else b""
        if len(first) < PART_MAX and not more:
            # The whole document fits in one part (most do): one round trip,
            # idempotent (content addressed), so a lost answer is asked again
            digest = hashlib.sha256(first).hexdigest()
            put = {"data": first, "filename": filename or "", "mime": mime or "", "sha256": digest}
            try:
                done = self._request("upload", "put", put, timeout)
            except Timeout:
                done = self._request("upload", "put", put, timeout)
            if done.get("blob") != digest:
                raise ProtocolError("upload/put: the blob hash is not the one sent", 502)
            return done
        first += more
        begun = self._request("upload", "begin", {"size": size, "filename": filename or "", "mime": mime or ""},
                              timeout)
        upload_id = begun.get("upload_id")
        if not isinstance(upload_id, str):
            raise ProtocolError("upload/begin: reply without an upload_id", 502)
        part_max = min(int(begun.get("part_max") or PART_MAX), PART_MAX)
        sha = hashlib.sha256()
        committed = False
        try:
            seq, buf = 0, first
            while buf:
                for off in range(0, len(buf), part_max):
                    piece = buf[off:off + part_max]
                    body = {"upload_id": upload_id, "seq": seq, "data": piece}
                    try:
                        self._request("upload", "part", body, timeout)
                    except Timeout:
                        # lost in flight: the service acks a seq it already
                        # applied without writing it twice
                        self._request("upload", "part", body, timeout)
                    sha.update(piece)
                    seq += 1
                buf = stream.read(PART_MAX)
            commit = {"upload_id": upload_id, "sha256": sha.hexdigest()}
            try:
                done = self._request("upload", "commit", commit, timeout)
            except Timeout:
                done = self._request("upload", "commit", commit, timeout)   # same answer if it was done
            committed = True
        finally:
            if not committed:
                self._abort_quietly(upload_id)
        if done.get("blob") != sha.hexdigest():
            raise ProtocolError("upload/commit: the blob hash is not the one sent", 502)
        return done

    def _abort_quietly(self, upload_id: str) -> None:
        """Fire and forget: drop an upload now rather than when it expires."""
        if self._dealer is None:
            return
        now = int(time.time() * 1000)
        env = msgpack.packb({"v": 1, "id": _new_id(), "kind": "abort", "job": "", "ws": self.workspace,
                             "route": ["upload"], "att": 0, "max": 3, "dl": now + 5000, "ts": now,
                             "body": msgpack.packb({"upload_id": upload_id})})
        try:
            self._dealer.send_multipart([msgpack.packb({"p": PROTO_TAG, "c": CMD_REQUEST, "corr": _new_id(),
                                                        "timeout": 5000}), env], flags=zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    def ingest_stream(self, stream: BinaryIO, *, size: Optional[int] = None, filename: Optional[str] = None,
                      mime: Optional[str] = None, job_id: Optional[str] = None,
                      timeout: Optional[float] = None, meta: Optional[Mapping[str, Any]] = None) -> Job:
        """Ingest the bytes read from a binary stream (``size`` if known)."""
        job = _check_token(job_id, "job_id") if job_id else None
        if meta is not None:
            _check_meta(meta)       # before the bytes go, not after
        done = self.upload(stream, size=size, filename=filename, mime=mime, timeout=timeout)
        return self._ingest({"blob": done["blob"], "size": done["size"], "filename": filename or "",
                             "mime": mime or ""}, job, timeout, meta)

    # -- jobs and events ---------------------------------------------------

    def job(self, job_id: str, *, timeout: Optional[float] = None) -> Job:
        """The job's current state. Raises :class:`NotFound`."""
        reply = self._request("query", "job_get", {"job": _check_token(job_id, "job id")}, timeout)
        if not isinstance(reply.get("job"), dict):
            raise ProtocolError("query/job_get: reply without a job", 502)
        return Job.from_map(reply["job"])

    def watch(self, job_ids: Iterable[str] = (), *, after: int = 0) -> "Watch":
        """A :class:`Watch` following the given jobs (more can be added)."""
        w = Watch(self)
        try:
            for j in job_ids:
                w.add(j, after=after)
        except BaseException:
            w.close()
            raise
        return w

    def events(self, job_id: str, *, after: int = 0, timeout: Optional[float] = None) -> Iterator[Event]:
        """Iterate over a job's events from ``after`` (0 = the first) until
        its last one (job_completed or job_failed); each exactly once, in
        seq order. With ``timeout`` (seconds, in total) raises
        :class:`Timeout` if the job has not finished by then."""
        deadline = time.monotonic() + timeout if timeout else None
        with self.watch([job_id], after=after) as w:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise Timeout("job %s did not finish within %.1f s" % (job_id, timeout or 0))
                event = w.next(timeout=left)
                if event is None:
                    if w.done:
                        return
                    continue
                yield event

    def wait(self, job_id: str, *, timeout: Optional[float] = None) -> Job:
        """Follow a job until it completes, fails or is cancelled; return its
        final state. A job retried after it ended is followed through its new
        run (its events go on after the earlier terminal one)."""
        deadline = time.monotonic() + timeout if timeout else None
        after = 0
        while True:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            seen = after
            for event in self.events(job_id, after=after, timeout=left):
                after = max(after, event.seq)
            job = self.job(job_id)
            if job.terminal or (deadline is not None and time.monotonic() >= deadline):
                return job
            if after == seen:
                time.sleep(0.05)    # retried, its new run not in the log yet

    # -- search and documents ----------------------------------------------

    def search(self, query: str, k: int = 10, *, mode: str = "hybrid",
               documents: Optional[Sequence[str]] = None,
               filter: Optional[Mapping[str, Any]] = None, source_prefix: Optional[str] = None,
               mime: Union[str, Sequence[str], None] = None,
               timeout: Optional[float] = None) -> List[Hit]:
        """The ``k`` (1..100) chunks that best match ``query``, best first.
        ``mode``: ``"hybrid"`` (meaning and exact words, fused), ``"vector"``
        or ``"lexical"``. ``documents``: search only within these document
        ids (up to 100). ``filter``: only documents whose attributes match,
        every key ANDed: ``{"team": "legal"}`` (on a list attribute: holds
        it), ``{"tags": {"any": ["a", "b"]}}``, ``{"year": {"gte": 2020,
        "lt": 2025}}``, ``{"signed": {"gte": "2024-01-01"}}``;
        ``source_prefix``: only sources starting with it; ``mime``: a type
        or a list of types. The server checks them (:class:`Refused` with
        its reason)."""
        if not query:
            raise Refused("an empty query matches nothing")
        if not 1 <= int(k) <= 100:
            raise Refused("k must be 1..100")
        if mode not in ("hybrid", "vector", "lexical"):
            raise Refused("mode must be hybrid, vector or lexical")
        body: Dict[str, Any] = {"query": query, "k": int(k), "mode": mode}
        if documents is not None:
            if isinstance(documents, str) or len(documents) > 100:
                raise Refused("documents must be a list of at most 100 document ids")
            body["documents"] = [_check_token(d, "document id") for d in documents]
        if filter is not None:
            if not isinstance(filter, Mapping):
                raise Refused("filter must be a mapping such as {'team': 'legal'}")
            body["filter"] = dict(filter)
        if source_prefix is not None:
            body["source_prefix"] = source_prefix
        if mime is not None:
            body["mime"] = [mime] if isinstance(mime, str) else list(mime)
        reply = self._request("query", "search", body, timeout)
        hits = reply.get("hits")
        if not isinstance(hits, list):
            raise ProtocolError("query/search: reply without hits", 502)
        return [Hit.from_map(h) for h in hits if isinstance(h, dict)]

    def documents(self, limit: int = 50, offset: int = 0, *, timeout: Optional[float] = None) -> DocumentPage:
        """A page of the workspace's documents (limit 1..1000)."""
        if not 1 <= int(limit) <= 1000 or int(offset) < 0:
            raise Refused("limit must be 1..1000 and offset >= 0")
        reply = self._request("query", "doc_list", {"limit": int(limit), "offset": int(offset)}, timeout)
        docs = reply.get("documents")
        if not isinstance(docs, list):
            raise ProtocolError("query/doc_list: reply without documents", 502)
        total = reply.get("total")
        return DocumentPage([Document.from_map(d) for d in docs if isinstance(d, dict)],
                            total if isinstance(total, int) else len(docs))

    def document(self, doc_id: str, *, timeout: Optional[float] = None) -> Document:
        """One document. Raises :class:`NotFound`."""
        reply = self._request("query", "doc_get", {"id": _check_token(doc_id, "document id")}, timeout)
        return Document.from_map(reply.get("document") or {})

    def content(self, doc_id: str, out: Optional[BinaryIO] = None, *, max_bytes: int = 1 << 30,
                timeout: Optional[float] = None) -> Union[bytes, int]:
        """The document's stored bytes, as ingested (a hit's document_url
        without the edge), read in parts of up to 1 MiB. Written to ``out``
        (returns the size) or returned as bytes. Raises :class:`NotFound`
        (no such document in this workspace), :class:`Refused` past
        ``max_bytes`` or with status 410 when the
        stored bytes are gone."""
        _check_token(doc_id, "document id")
        parts: List[bytes] = []
        offset, sha = 0, hashlib.sha256()
        while True:
            reply = self._request("query", "doc_content", {"id": doc_id, "offset": offset}, timeout)
            data = reply.get("data")
            size = reply.get("size")
            if not isinstance(data, bytes) or not isinstance(size, int):
                raise ProtocolError("query/doc_content: reply without data", 502)
            if size > max_bytes:
                raise Refused("document %s has %d bytes, more than max_bytes %d" % (doc_id, size, max_bytes))
            sha.update(data)
            if out is not None:
                out.write(data)
            else:
                parts.append(data)
            offset += len(data)
            if not reply.get("more") or not data:
                break
        if offset != size or sha.hexdigest() != reply.get("sha256"):
            raise ProtocolError("document %s changed while it was read" % doc_id, 502)
        return offset if out is not None else b"".join(parts)

    def set_meta(self, doc_id: str, meta: Mapping[str, Any], *, merge: bool = True,
                 timeout: Optional[float] = None) -> Document:
        """Re-tag a document without ingesting it again: ``merge`` (the
        default) sets the given keys and removes those given as ``None``;
        ``merge=False`` replaces all its attributes. Returns the document
        as it is now. Raises :class:`NotFound`, :class:`Refused`."""
        if not isinstance(meta, Mapping):
            raise Refused("meta must be a mapping such as {'team': 'legal'}")
        reply = self._request("query", "doc_meta", {"id": _check_token(doc_id, "document id"),
                                                    "meta": dict(meta), "merge": bool(merge)}, timeout)
        return Document.from_map(reply.get("document") or {})

    def delete_document(self, doc_id: str, *, timeout: Optional[float] = None) -> None:
        """Delete a document with its chunks and vectors. Returns once the
        deletion is accepted: from then on no search returns it, and the
        server's delete service removes it shortly after. Deleting it again
        meanwhile is harmless; raises :class:`NotFound` once it is gone."""
        self._request("query", "doc_delete", {"id": _check_token(doc_id, "document id")}, timeout)

    def workspace_info(self, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The workspace's model, dim and chunking: {"workspace", "model", "dim",
        "chunking": {"target_tokens", "overlap_tokens", "embed_context"},
        "chunking_source": "workspace" (its own) or "server" (the chunk.* settings)}."""
        return self._request("query", "ws_get", {}, timeout)

    def set_chunking(self, *, target_tokens: Optional[int] = None, overlap_tokens: Optional[int] = None,
                     embed_context: Optional[bool] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Change how the workspace's documents ingested from now on are cut (the settings
        given change; the rest stay). Stored documents keep theirs. Raises :class:`Refused`
        with the reason for a bad setting or a target the model cannot take."""
        change: Dict[str, Any] = {}
        if target_tokens is not None:
            change["target_tokens"] = int(target_tokens)
        if overlap_tokens is not None:
            change["overlap_tokens"] = int(overlap_tokens)
        if embed_context is not None:
            change["embed_context"] = bool(embed_context)
        return self._request("query", "ws_chunking", {"chunking": change}, timeout)

    def reset_chunking(self, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Go back to the server's chunking settings for documents ingested from now on."""
        return self._request("query", "ws_chunking", {"chunking": None}, timeout)

    # -- job control ---------------------------------------------------------

    def _job_control(self, kind: str, job_id: str, timeout: Optional[float]) -> Job:
        reply = self._request("intake", kind, {"job": _check_token(job_id, "job id")}, timeout)
        if not isinstance(reply.get("job"), dict):
            raise ProtocolError("intake/%s: reply without a job" % kind, 502)
        return Job.from_map(reply["job"])

    def cancel(self, job_id: str, *, timeout: Optional[float] = None) -> Job:
        """Cancel a job that has not finished: it stops at its next stage
        boundary (a long parse between pages), what it made is removed,
        nothing of it is stored; its events end with job_cancelled. Returns
        the job (state ``cancelled``). Raises :class:`NotFound`, or
        :class:`Refused` (409) with the state of a job that has finished."""
        return self._job_control("cancel", job_id, timeout)

    def retry(self, job_id: str, *, timeout: Optional[float] = None) -> Job:
        """Run a failed or cancelled job again from its start (same source or
        upload, same options); a new job_started event follows. Raises
        :class:`Refused` (409) for a job running or completed, (410) when its
        upload was collected meanwhile."""
        return self._job_control("retry", job_id, timeout)

    def reprocess(self, doc_id: str, from_stage: str = "chunk", *, timeout: Optional[float] = None) -> Job:
        """Process a stored document again without fetching or parsing it:
        ``"chunk"`` cuts its kept pages with the workspace's chunking now,
        ``"embed"`` embeds its chunks again as they are. Returns the new job;
        its commit replaces the document's chunks. Raises :class:`NotFound`,
        or :class:`Refused` (409) for a document stored before its pages
        were kept."""
        if from_stage not in ("chunk", "embed"):
            raise Refused("reprocess from 'chunk' or 'embed'")
        reply = self._request("intake", "reprocess", {"document": _check_token(doc_id, "document id"),
                                                      "from": from_stage}, timeout)
        if not isinstance(reply.get("job"), dict):
            raise ProtocolError("intake/reprocess: reply without a job", 502)
        return Job.from_map(reply["job"])

    def pause(self, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Pause the workspace's intake: new jobs are accepted and held (not
        started), running ones finish. {"workspace", "paused": True, "held"}."""
        return self._request("intake", "pause", {}, timeout)

    def resume(self, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Resume it: held jobs start, oldest first (up to 1,000 a call).
        {"workspace", "paused": False, "started", "held" (still held)}."""
        return self._request("intake", "resume", {}, timeout)


    # -- sources: folders, URL lists and sitemaps kept in sync --------------

    def add_source(self, kind: str, *, path: Optional[str] = None, urls: Optional[Sequence[str]] = None,
                   url: Optional[str] = None, schedule: Optional[str] = None,
                   meta: Optional[Mapping[str, Any]] = None, name: Optional[str] = None,
                   timeout: Optional[float] = None) -> Dict[str, Any]:
        """Register a source: kind "folder" (path, below the server's fetch.file_roots),
        "urls" (urls) or "sitemap" (url of a sitemap.xml or sitemap index), with an optional
        schedule ("every 15m" or a cron expression "0 3 * * *") and attributes for its
        documents. It syncs at once, then on its schedule. Returns the source; raises
        :class:`Refused` with the server's reason (a folder outside the roots, a bad schedule,
        an address the fetch guard refuses; a duplicate is 409)."""
        source: Dict[str, Any] = {"kind": kind}
        for key, value in (("path", path), ("urls", list(urls) if urls is not None else None),
                           ("url", url), ("schedule", schedule), ("name", name)):
            if value is not None:
                source[key] = value
        if meta is not None:
            source["meta"] = _check_meta(meta)
        return self._request("sources", "source_add", {"source": source}, timeout)["source"]

    def sources(self, *, timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        """The workspace's sources, each with next_sync (ms, None: on demand) and last_run."""
        return self._request("sources", "source_list", {}, timeout)["sources"]

    def source(self, source_id: str, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        _check_token(source_id, "source id")
        return self._request("sources", "source_get", {"id": source_id}, timeout)["source"]

    def update_source(self, source_id: str, *, timeout: Optional[float] = None,
                      **changes: Any) -> Dict[str, Any]:
        """Change a source's schedule, meta or name (None removes it)."""
        _check_token(source_id, "source id")
        return self._request("sources", "source_update", {"id": source_id, "source": changes},
                             timeout)["source"]

    def delete_source(self, source_id: str, *, timeout: Optional[float] = None) -> int:
        """Delete a source and its documents; returns how many documents went."""
        _check_token(source_id, "source id")
        return int(self._request("sources", "source_delete", {"id": source_id}, timeout)["documents_deleted"])

    def sync(self, source_id: str, *, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Ask for a sync now: the run (queued), or the one already queued or running."""
        _check_token(source_id, "source id")
        return self._request("sources", "source_sync", {"id": source_id}, timeout)["run"]

    def source_runs(self, source_id: str, limit: int = 20, *, timeout: Optional[float] = None
                    ) -> List[Dict[str, Any]]:
        """The source's runs, newest first: state (queued, running, completed, failed),
        started, finished, and new / changed / deleted / unchanged / failed counts."""
        _check_token(source_id, "source id")
        return self._request("sources", "source_runs", {"id": source_id, "limit": int(limit)},
                             timeout)["runs"]

    def wait_sync(self, source_id: str, run_id: str, *, timeout: Optional[float] = None,
                  poll: float = 0.25) -> Dict[str, Any]:
        """Wait until run run_id of the source has ended; returns it. Raises
        :class:`Timeout` after timeout seconds (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for run in self.source_runs(source_id, 100):
                if run["id"] == run_id and run["state"] in ("completed", "failed"):
                    return run
            if deadline is not None and time.monotonic() > deadline:
                raise Timeout("run %s of source %s has not ended" % (run_id, source_id))
            time.sleep(poll)


class _Followed:
    __slots__ = ("id", "last", "done", "need_query", "requery_at", "requery", "terminal_since")

    def __init__(self, job_id: str, after: int) -> None:
        self.id = job_id
        self.last = max(0, after)
        self.done = False
        self.need_query = True
        self.requery_at = 0.0
        self.requery = REQUERY_MIN
        self.terminal_since = 0.0


class Watch:
    """Follows the events of one or more jobs (docs/protocol.md §5).

    Iterating yields every event of every watched job exactly once, in seq
    order per job, and stops when all of them have finished::

        with client.watch([a.id, b.id]) as w:
            for event in w:
                print(event.job, event.type, event.percent)

    :meth:`next` waits with a timeout instead (``None`` when nothing came).
    A watch uses its client's socket for reads: same thread as the client.
    """

    def __init__(self, client: Client) -> None:
        if client._dealer is None:
            raise SluiceError("not connected: call connect() first")
        if not client.events_endpoint:
            raise SluiceError("no event endpoint: pass events_endpoint= to the Client")
        self._client = client
        self._jobs: Dict[str, _Followed] = {}
        self._topics: Dict[bytes, str] = {}     # "<workspace>/<job>" -> job id
        self._ready: List[Event] = []
        self._sub = client._ctx.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.setsockopt(zmq.RCVHWM, 100000)
        client._secure(self._sub)
        for e in client.events_endpoints:      # only the active broker of a pair publishes
            self._sub.connect(e)
        client._watches.append(self)

    def add(self, job_id: str, *, after: int = 0, timeout: Optional[float] = None) -> None:
        """Follow ``job_id`` from after event ``after``. Raises :class:`NotFound`."""
        _check_token(job_id, "job id")
        # Subscribe first, then check and read: nothing can fall between.
        # Events come on "<workspace>/<job>" (a client key may only
        # subscribe to its own workspaces)
        topic = ("%s/%s" % (self._client.workspace, job_id)).encode()
        self._sub.setsockopt(zmq.SUBSCRIBE, topic)
        try:
            self._client.job(job_id, timeout=timeout)
        except BaseException:
            self._sub.setsockopt(zmq.UNSUBSCRIBE, topic)
            raise
        self._topics[topic] = job_id
        f = _Followed(job_id, after)
        if after > 0:
            # Resuming right after the job's last event: nothing more to come
            reply = self._client._request("query", "events", {"job": job_id, "after": after - 1}, timeout)
            events = reply.get("events") or []
            if len(events) == 1 and isinstance(events[0], dict):
                e = Event.from_map(events[0], job_id)
                f.done = e.seq == after and e.terminal
        self._jobs[job_id] = f

    @property
    def pending(self) -> int:
        """Jobs not finished yet."""
        return sum(1 for f in self._jobs.values() if not f.done)

    @property
    def done(self) -> bool:
        """True when every job has finished and every event was given."""
        return not self._ready and self.pending == 0

    def _offer(self, f: _Followed, event: Event) -> int:
        """1 queued, 0 duplicate, 2 gap (re-query)."""
        if f.done or (event.seq > 0 and event.seq <= f.last):
            return 0
        if event.seq > f.last + 1:
            return 2
        if event.seq > 0:
            f.last = event.seq
        if event.terminal:
            f.done = True
        self._ready.append(event)
        return 1

    def _query(self, f: _Followed, timeout: Optional[float] = None) -> None:
        now = time.monotonic()
        f.requery_at = now + f.requery
        f.requery = min(f.requery * 2, REQUERY_MAX)
        f.need_query = False
        try:
            reply = self._client._request("query", "events", {"job": f.id, "after": f.last}, timeout)
        except NotFound:
            f.done = True           # deleted while watched: nothing more will come
            return
        except (Timeout, Unavailable, Busy):
            return                  # try again at requery_at
        events = [e for e in (reply.get("events") or []) if isinstance(e, dict)]
        for m in events:
            if f.done:
                break
            e = Event.from_map(m, f.id)
            if e.seq > f.last + 1:  # a hole in the journal: take the next one present
                f.last = e.seq - 1
            self._offer(f, e)
        if events and not f.done:
            f.need_query = True     # one page at a time: ask for more
        if reply.get("terminal") and not events and not f.done:
            # the store says finished a moment before the journal records it
            if not f.terminal_since:
                f.terminal_since = now
            if now - f.terminal_since >= TERMINAL_GRACE:
                f.done = True
            else:
                f.requery_at = min(f.requery_at, now + TERMINAL_POLL)

    def _take_live(self) -> None:
        topic, *rest = self._sub.recv_multipart()
        f = self._jobs.get(self._topics.get(topic, ""))
        if f is None or f.done or not rest:
            return
        try:
            m = msgpack.unpackb(rest[0], raw=False)
        except Exception:
            return
        if not isinstance(m, dict):
            return
        if self._offer(f, Event.from_map(m, f.id)) == 2:
            f.need_query = True
        else:
            f.requery = REQUERY_MIN
            f.requery_at = time.monotonic() + REQUERY_MAX

    def next(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event of any watched job, waiting up to ``timeout``
        seconds (``None`` = until one comes or every job has finished).
        Returns ``None`` on timeout or when :attr:`done`."""
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            if self._ready:
                return self._ready.pop(0)
            if self.pending == 0:
                return None
            now = time.monotonic()
            wake = deadline if deadline is not None else now + 3600
            asked = False
            for f in self._jobs.values():
                if f.done:
                    continue
                if f.need_query or now >= f.requery_at:
                    # bounded by what is left of this call, but never so
                    # short that a slow answer could never make it
                    left = self._client.timeout if deadline is None else max(1.0, deadline - now)
                    self._query(f, min(left, self._client.timeout))
                    asked = True
                if not f.done:
                    wake = min(wake, f.requery_at)
            if asked:
                continue
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            if self._sub.poll(max(0, int((wake - now) * 1000))):
                for _ in range(1000):
                    if not self._sub.poll(0):
                        break
                    self._take_live()

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.next()
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Unsubscribe and close the socket. Safe to call twice."""
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None  # type: ignore[assignment]
        if self in self._client._watches:
            self._client._watches.remove(self)

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
