"""harness: start real sluiced processes and talk to them over ZeroMQ.

Shared by the pipeline and scale-out tests (run with /usr/bin/python3, which
has Debian's python3-zmq and python3-msgpack). Nothing here imitates Sluice:
processes are the real binary, sockets are real, the database is the real
SQLite file the processes write.
"""
import os, shutil, signal, sqlite3, subprocess, sys, tempfile, time, traceback

import msgpack
import zmq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICED = os.environ.get("SLUICED", os.path.join(ROOT, "build", "actors", "sluiced"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import big_pdf, corpus_dir, fact, make_pdf, small_pdfs  # noqa: E402,F401  (re-exported)
import ports  # noqa: E402


def __getattr__(name):
    """CORPUS: the folder of generated test documents (tests/corpus.py),
    built on first use, so importing the harness costs nothing."""
    if name == "CORPUS":
        return corpus_dir()
    raise AttributeError(name)


def free_port():
    """Two consecutive free ports (broker + events), reserved for this test
    (tests/ports.py: below the ephemeral range, and no other test process
    gets them while this one lives)."""
    return ports.free_ports(2)


class Sluiced:
    """One sluiced process. role 'all' binds the broker on tcp so tests can connect."""

    def __init__(self, data, role="all", port=None, sets=(), broker=None, log=None):
        self.data, self.role = data, role
        self.port = port or free_port()
        # operational HTTP ports off unless a test asks for them: many
        # processes share this machine
        args = [SLUICED, "--role", role, "--data", data, "--set", "log.level=warn",
                "--set", "broker.metrics_port=0", "--set", "worker.health_port=0"]
        if "all" == role or "broker" in role.split(","):
            args += ["--set", "broker.bind=tcp://127.0.0.1:%d" % self.port]
        else:
            args += ["--broker", broker or "tcp://127.0.0.1:%d" % self.port]
        # the HTTP edge (in 'all' or an explicit edge role) gets its own port
        self.http_port = None
        if role == "all" or "edge" in role.split(","):
            self.http_port = free_port()
            args += ["--set", "http.port=%d" % self.http_port]
        for s in sets:
            args += ["--set", s]
        self.log_path = log or os.path.join(data, "sluiced-%s-%d.log" % (role.replace(",", "+"), time.time_ns() % 100000))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)

    def endpoint(self):
        return "tcp://127.0.0.1:%d" % self.port

    def alive(self):
        return self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def stop(self):
        return self.kill(signal.SIGTERM)


class Client:
    """Speaks the broker protocol (docs/protocol.md) with python3-zmq."""

    def __init__(self, port, ws="default"):
        self.ctx = zmq.Context.instance()
        self.port, self.ws = port, ws
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect("tcp://127.0.0.1:%d" % port)
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.connect("tcp://127.0.0.1:%d" % (port + 1))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")

    def close(self):
        self.dealer.close()
        self.sub.close()

    def envelope(self, kind, route, body, job="", ws=None, mid=None):
        return msgpack.packb({"v": 1, "id": mid or os.urandom(16).hex(), "kind": kind, "job": job,
                              "ws": ws or self.ws, "route": route, "att": 0, "max": 3, "dl": 0,
                              "ts": int(time.time() * 1000), "body": msgpack.packb(body)})

    def _call(self, header, frames=(), timeout=10000):
        corr = os.urandom(8).hex()
        header = dict(header, p="SLP1", corr=corr)
        # a DEALER with no live connection (a refused CURVE handshake, a
        # broker that is down) blocks on send: bound it like the answer
        self.dealer.setsockopt(zmq.SNDTIMEO, timeout)
        try:
            self.dealer.send_multipart([msgpack.packb(header)] + list(frames))
        except zmq.Again:
            raise TimeoutError("broker not reachable (send timed out)")
        deadline = time.time() + timeout / 1000
        while time.time() < deadline:
            if not self.dealer.poll(max(1, int((deadline - time.time()) * 1000))):
                break
            reply = self.dealer.recv_multipart()
            h = msgpack.unpackb(reply[0])
            if h.get("corr") == corr:
                return h, reply[1:]
        raise TimeoutError("no answer from broker")

    def request(self, service, kind, body, ws=None, timeout=15000):
        h, frames = self._call({"c": 11, "timeout": timeout}, [self.envelope(kind, [service], body, ws=ws)], timeout)
        if h["c"] == 10:
            return {"error": {"code": h.get("code"), "message": h.get("reason")}}
        return msgpack.unpackb(frames[0])

    def submit(self, env_bytes):
        h, _ = self._call({"c": 7}, [env_bytes])
        return h

    def stats(self):
        h, frames = self._call({"c": 15})
        return msgpack.unpackb(frames[0])

    def ingest(self, ws=None, **body):
        r = self.request("intake", "ingest", body, ws=ws)
        if "error" in r:
            return r
        return r["job"]

    def job(self, job_id, ws=None):
        return self.request("query", "job_get", {"job": job_id}, ws=ws)

    def wait(self, job_id, timeout=60, ws=None):
        """Poll the job until terminal; returns the job."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.job(job_id, ws=ws)
            if "job" in r and r["job"]["terminal"]:
                return r["job"]
            time.sleep(0.1)
        raise TimeoutError("job %s not finished in %d s: %s" % (job_id, timeout, self.job(job_id, ws=ws)))

    def events(self, job_id, after=0, ws=None):
        return self.request("query", "events", {"job": job_id, "after": after}, ws=ws)

    def search(self, query, k=5, ws=None, mode=None):
        body = {"query": query, "k": k}
        if mode:
            body["mode"] = mode
        return self.request("query", "search", body, ws=ws)


def db(data):
    con = sqlite3.connect(os.path.join(data, "sluice.db"), timeout=30)
    return con


def wait_for(cond, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return True
        except Exception:
            pass
        time.sleep(0.1)
    raise TimeoutError("timed out waiting for " + what)


def wait_ready(client, services=("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store")):
    def ready():
        s = client.stats()["services"]
        return all(s.get(x, {}).get("workers", 0) > 0 for x in services)
    wait_for(ready, 60, "workers " + ",".join(services))


class Runner:
    """libuv-style: one function per behaviour, a final 'N passed, N failed' line."""

    def __init__(self):
        self.passed, self.failed, self.skipped = 0, 0, 0

    def run(self, tests, only=None):
        for t in tests:
            name = t.__name__
            if only and name not in only:
                continue
            t0 = time.time()
            tmp = tempfile.mkdtemp(prefix="sluice-test-")
            try:
                r = t(tmp)
                if r == "skip":
                    self.skipped += 1
                    print("SKIP %s" % name, flush=True)
                else:
                    self.passed += 1
                    print("ok   %s (%.1f s)" % (name, time.time() - t0), flush=True)
            except Exception:
                self.failed += 1
                print("FAIL %s" % name, flush=True)
                traceback.print_exc()
                for d, _, names in os.walk(tmp):
                    for f in sorted(names):
                        if f.endswith(".log"):
                            print("---- %s (tail)" % f)
                            with open(os.path.join(d, f), errors="replace") as fh:
                                print("".join(fh.readlines()[-25:]))
            finally:
                for p in list(PROCS):
                    try:
                        p.kill()
                    except Exception:
                        pass
                PROCS.clear()
                shutil.rmtree(tmp, ignore_errors=True)
        # a name that matches no test is a broken ctest line, not a pass
        unknown = sorted((only or set()) - {t.__name__ for t in tests})
        for name in unknown:
            self.failed += 1
            print("FAIL %s: no such test in this file" % name, flush=True)
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped))
        if self.failed:
            return 1
        return 77 if self.skipped and not self.passed else 0    # ctest SKIP_RETURN_CODE


PROCS = []


def start(data, **kw):
    p = Sluiced(data, **kw)
    PROCS.append(p)
    return p
