"""test_failover: a broker pair (Binary Star, broker/sl_bstar.h) on loopback.

Real `sluiced` processes: PostgreSQL (tests/pg_server.sh), a primary and a
backup broker (broker.pair, broker.state_bind, broker.peer), and one
process per stage and one control process (intake, journal, query), each
given both broker endpoints ("tcp://a,tcp://b"). Nothing is mocked.

  failover_primary_killed_under_load   small PDFs are ingested while the
      active broker is kill -9'd several times (restarted each time with
      its own role, as its Deployment would): every accepted job
      completes, no chunk is duplicated, every chunk has its vector, and
      the longest time without progress after a kill is printed (no timed
      assertion: the figure goes to bench/RESULTS.md)
  failover_passive_refuses_work        the passive broker refuses work with
      code 421 and a sentence; a backup alone never serves
  failover_no_split_brain_without_clients   the primary dies, nobody asks
      the backup: it stays passive however long; the first request makes
      it active; the old primary, back, does not serve
  failover_silent_peer_and_dual_active  a primary that is stopped (SIGSTOP:
      silent, its connections open, as a partition) is taken over only
      after `liveness` heartbeats, with a retry hint before; resumed, the
      two are both active for a moment and the backup steps down

Usage: /usr/bin/python3 tests/test_failover.py [test_NAME ...]
"""
import os, signal, subprocess, sys, threading, time

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Client, Runner, Sluiced, free_port, small_pdfs, wait_for  # noqa: E402
from cluster import SkipCluster  # noqa: E402
import pg  # noqa: E402
from test_chaos import post, serve  # noqa: E402

PASSIVE = 421
HEARTBEAT_MS = int(os.environ.get("FAILOVER_HEARTBEAT_MS", "500"))
LIVENESS = 3
DOCS = int(os.environ.get("FAILOVER_DOCS", "200"))
SPACING = 4.0           # seconds at least between kills: the window measured after each
LOG = os.environ.get("FAILOVER_LOG", "warn")
KILLS = int(os.environ.get("FAILOVER_KILLS", "3"))
# jobs.stale_s is long on purpose: a job the dead broker held must be
# re-driven because the broker changed (intake watches its epoch), not
# because it went quiet; a failover that lost one would leave it waiting
# past the test's patience, and the test fails
SETS = ["log.level=" + LOG, "embed.provider=hash", "jobs.stale_s=900",
        "broker.heartbeat_ms=%d" % HEARTBEAT_MS, "broker.liveness=%d" % LIVENESS,
        "jobs.message_attempts=8", "jobs.max_attempts=6"]
STAGES = ("fetch", "parse", "chunk", "embed", "store")


class Pair:
    """A primary and a backup broker; other processes get both endpoints."""

    def __init__(self, tmp, data, sets):
        self.tmp, self.data, self.sets = tmp, data, list(sets)
        self.port = {"primary": free_port(), "backup": free_port()}
        self.state = {"primary": free_port(), "backup": free_port()}
        self.procs = {}

    def endpoints(self):
        return ",".join("tcp://127.0.0.1:%d" % self.port[r] for r in ("primary", "backup"))

    def start(self, role):
        other = "backup" if role == "primary" else "primary"
        sets = self.sets + ["broker.pair=" + role,
                            "broker.state_bind=tcp://127.0.0.1:%d" % self.state[role],
                            "broker.peer=tcp://127.0.0.1:%d" % self.state[other]]
        p = Sluiced(self.data, role="broker", port=self.port[role], sets=sets,
                    log=os.path.join(self.tmp, "broker-%s.log" % role))
        self.procs[role] = p
        return p

    def form(self):
        """Start both brokers and wait until the primary serves and the
        backup stands by."""
        self.start("primary")
        self.start("backup")
        wait_for(lambda: self.state_of("primary") == "active", 20, "the primary to be active")
        wait_for(lambda: self.state_of("backup") == "passive", 20, "the backup to stand by")

    def kill(self, role, sig=signal.SIGKILL):
        p = self.procs[role]
        if sig == signal.SIGKILL:
            p.kill(sig)
        else:
            p.proc.send_signal(sig)

    def stop(self):
        for p in self.procs.values():
            try:
                if p.alive():
                    p.proc.send_signal(signal.SIGCONT)
                p.kill(signal.SIGKILL)
            except Exception:
                pass

    def state_of(self, role, timeout=2000):
        """'active', 'passive', ... as the broker says (STATS never makes a
        passive broker take over), or 'down'."""
        c = Client(self.port[role])
        try:
            h, frames = c._call({"c": 15}, timeout=timeout)
            if h["c"] == 10:
                assert h.get("code") == PASSIVE, h
                r = h.get("reason", "")
                return "passive" if "(passive)" in r else r.split("(")[1].split(")")[0] if "(" in r else r
            return msgpack.unpackb(frames[0]).get("pair", "single")
        except TimeoutError:
            return "down"
        finally:
            c.close()

    def active(self):
        for role in ("primary", "backup"):
            if self.procs.get(role) and self.procs[role].alive() and self.state_of(role) == "active":
                return role
        return None


class PairClient:
    """The broker protocol with failover, as engine/sl_client.c does it:
    a refusal (421) goes to the other broker, or to the same one after
    its retry hint; silence moves to the other broker."""

    def __init__(self, pair):
        self.clients = [Client(pair.port["primary"]), Client(pair.port["backup"])]
        self.current = 0

    def close(self):
        for c in self.clients:
            c.close()

    def request(self, service, kind, body, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            c = self.clients[self.current]
            try:
                r = c.request(service, kind, body, timeout=2000)
            except TimeoutError:
                self.current = 1 - self.current
                continue
            err = r.get("error") if isinstance(r, dict) else None
            if err and err.get("code") == PASSIVE:
                self.current = 1 - self.current
                time.sleep(0.1)
                continue
            return r
        raise TimeoutError("no broker answered %s/%s" % (service, kind))


def start_pg(tmp):
    try:
        url, folder = pg.start(tmp, free_port())
    except pg.NotInstalled as e:
        raise SkipCluster(str(e))
    return folder, url


def psql(url, sql):
    out = subprocess.run(["psql", "-At", url, "-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout.strip()


def submit(port, timeout=3000):
    """A SUBMIT of a harmless envelope (no worker serves its service)."""
    c = Client(port)
    try:
        h, _ = c._call({"c": 7}, [c.envelope("probe", ["nobody"], {})], timeout=timeout)
        return h
    finally:
        c.close()


def test_failover_primary_killed_under_load(tmp):
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    docs = small_pdfs(os.path.join(tmp, "docs"), DOCS)
    try:
        pgdir, pg_url = start_pg(tmp)
    except SkipCluster as e:
        print("skip: %s" % e)
        return "skip"
    common = SETS + ["store.url=" + pg_url, "fetch.file_roots=" + os.path.dirname(docs[0]),
                     "fetch.allow_cidrs=127.0.0.1/32", "http.request_timeout_ms=3000"]
    pair = Pair(tmp, data, common)
    procs = []
    srv = serve(os.path.dirname(docs[0]))       # the edge takes http(s) URLs only
    try:
        pair.start("primary")
        pair.start("backup")
        wait_for(lambda: pair.active() == "primary", 20, "the primary to be active")
        for name in ("control", "edge") + STAGES:
            role = "intake,journal,query" if name == "control" else name
            procs.append(Sluiced(data, role=role, broker=pair.endpoints(), sets=common,
                                 log=os.path.join(tmp, "%s.log" % name)))
        pc = PairClient(pair)

        def workers_ready():
            s = Client(pair.port[pair.active()])
            try:
                svc = s.stats()["services"]
            finally:
                s.close()
            return all(svc.get(x, {}).get("workers", 0) > 0 for x in ("intake", "query", "journal") + STAGES)
        wait_for(workers_ready, 60, "every stage to register")

        accepted, refused, accepted_at = [], [0], []
        progress = []           # (time, completed jobs) whenever it changed
        stop_watch = threading.Event()

        # Three submitters, as several callers would: one whose request
        # went to the broker that was just killed waits its timeout, and the
        # pipeline's progress, not one caller's patience, is what is measured.
        # Two speak the broker protocol, the third goes through the HTTP
        # edge, whose broker client (engine/sl_client.c) fails over itself
        edge = [p for p in procs if p.role == "edge"][0]

        def via_edge(url):
            try:
                status, body = post(edge.http_port, "http://127.0.0.1:%d/%s" % (srv.server_port, os.path.basename(url)))
            except Exception:
                return {}
            return {"job": {"id": body["jobs"][0]["id"]}} if status == 202 else {}

        def submitter(mine, client):
            for d in mine:
                while True:
                    try:
                        r = via_edge(d) if client is None else client.request("intake", "ingest", {"url": "file://" + d})
                    except TimeoutError:
                        r = {}
                    if "job" in r:
                        accepted.append(r["job"]["id"])
                        accepted_at.append((time.time(), "edge" if client is None else "broker"))
                        break
                    refused[0] += 1     # not accepted (busy, a failover): ask again
                    time.sleep(0.2)
                time.sleep(0.15)

        def watcher():
            last = -1
            while not stop_watch.is_set():
                try:
                    n = int(psql(pg_url, "SELECT count(*) FROM jobs WHERE state = 'completed'"))
                except Exception:
                    n = last
                if n != last:
                    progress.append((time.time(), n))
                    last = n
                time.sleep(0.1)

        clients = [pc, PairClient(pair), None]
        subs = [threading.Thread(target=submitter, args=(docs[i::3], clients[i]), daemon=True) for i in range(3)]
        t_watch = threading.Thread(target=watcher, daemon=True)
        t_watch.start()
        for t in subs:
            t.start()
        kills = []              # (time of the kill, role killed, time the other was active)
        for k in range(KILLS):
            wait_for(lambda: len(accepted) >= (k + 1) * DOCS // (KILLS + 2), 120, "load before kill %d" % (k + 1))
            if kills:
                time.sleep(max(0.0, kills[-1][0] + SPACING - time.time()))
            victim = pair.active()
            assert victim, "no active broker before kill %d" % (k + 1)
            other = "backup" if victim == "primary" else "primary"
            t_kill = time.time()
            pair.kill(victim)
            wait_for(lambda: pair.state_of(other, 500) == "active", 30, "the %s to take over" % other)
            kills.append((t_kill, victim, time.time()))
            # restarted with its own role, as its Deployment would: it must stand by
            pair.start(victim)
            wait_for(lambda: pair.state_of(victim, 500) == "passive", 30, "the restarted %s to stand by" % victim)
        for t in subs:
            t.join()
        print("submitted: accepted=%d refused-and-asked-again=%d kills=%d (%s)"
              % (len(accepted), refused[0], len(kills), ", ".join(v for _, v, _ in kills)), flush=True)

        pending = set(accepted)

        def all_done():
            rows = psql(pg_url, "SELECT id, state FROM jobs WHERE state IN ('completed','failed','cancelled')")
            for line in rows.splitlines():
                jid, state = line.split("|")
                if jid in pending:
                    assert state == "completed", (jid, state)
                    pending.discard(jid)
            return not pending
        t0 = time.time()
        wait_for(all_done, 300, "every accepted job to complete")
        stop_watch.set()
        t_watch.join()
        documents = int(psql(pg_url, "SELECT count(*) FROM documents"))
        chunks = int(psql(pg_url, "SELECT count(*) FROM chunks"))
        vectors = int(psql(pg_url, "SELECT count(*) FROM vectors"))
        dup = int(psql(pg_url, "SELECT count(*) - count(DISTINCT document_id || ':' || ordinal) FROM chunks"))
        stuck = int(psql(pg_url, "SELECT count(*) FROM jobs WHERE state NOT IN ('completed','failed','cancelled')"))
        failed = int(psql(pg_url, "SELECT count(*) FROM jobs WHERE state = 'failed'"))
        redriven = int(psql(pg_url, "SELECT count(*) FROM jobs WHERE attempts > 0"))
        # stores that ran twice for one job: harmless (idempotent commits), counted
        twice = int(psql(pg_url, "SELECT count(*) FROM (SELECT job_id FROM events WHERE type = 'stage_completed' "
                                 "AND data ~ '\"stage\": ?\"store\"' GROUP BY job_id HAVING count(*) > 1) t"))
        print("after %d kills: documents=%d chunks=%d vectors=%d duplicate_chunks=%d stuck=%d failed=%d "
              "jobs_redriven=%d stores_run_twice=%d (all done %.1f s after the last submission)"
              % (len(kills), documents, chunks, vectors, dup, stuck, failed, redriven, twice, time.time() - t0),
              flush=True)
        # Progress = a job completes. After each kill: the first completion,
        # and the longest stall (gap between completions) in the window up
        # to the next kill (at most 15 s); before the first kill, the
        # longest stall of the steady state, for comparison
        times = [t for t, _ in progress]
        stalls = []
        for i, (t_kill, victim, t_active) in enumerate(kills):
            end = min(kills[i + 1][0] if i + 1 < len(kills) else t_kill + 15, t_kill + 15)
            inside = [t_kill] + [t for t in times if t_kill < t <= end]
            first = inside[1] - t_kill if len(inside) > 1 else float("inf")
            stall = max(b - a for a, b in zip(inside, inside[1:])) if len(inside) > 1 else end - t_kill
            stalls.append(stall)
            subs = [w for t, w in accepted_at if t_kill < t <= end]
            print("kill %d of the %s: the other broker active %.2f s after; first job completed %.2f s after; "
                  "longest stall in the %.1f s after the kill %.2f s (accepted meanwhile: %d through the edge, "
                  "%d through the broker)" % (i + 1, victim, t_active - t_kill, first, end - t_kill, stall,
                                              subs.count("edge"), subs.count("broker")), flush=True)
        steady = [t for t in times if times and times[0] + 1 < t <= kills[0][0]]
        base = max((b - a for a, b in zip(steady, steady[1:])), default=0.0)
        print("FAILOVER longest time without progress after a kill: %.2f s (steady state before the first kill: "
              "%.2f s; heartbeat %d ms, liveness %d, %d jobs)" % (max(stalls), base, HEARTBEAT_MS, LIVENESS, DOCS),
              flush=True)
        assert documents == DOCS, (documents, DOCS)
        assert dup == 0 and chunks > 0 and vectors == chunks, (dup, chunks, vectors)
        assert stuck == 0 and failed == 0, (stuck, failed)
        for c in clients:
            if c:
                c.close()
        # Every process that failed over stops cleanly (under the sanitizers:
        # no leak of what a failover left, outboxes, adopted messages)
        for p in procs + [pair.procs["primary"], pair.procs["backup"]]:
            rc = p.stop()
            assert rc == 0, (p.role, rc, open(p.log_path, errors="replace").read()[-3000:])
    finally:
        for p in procs:
            try:
                p.kill(signal.SIGKILL)
            except Exception:
                pass
        pair.stop()
        srv.shutdown()
        if os.environ.get("FAILOVER_KEEP"):     # the logs, for a person reading a run
            subprocess.run(["sh", "-c", "mkdir -p '%s' && cp %s/*.log '%s'" % (os.environ["FAILOVER_KEEP"], tmp,
                                                                             os.environ["FAILOVER_KEEP"])])
        pg.stop(pgdir)


def test_failover_passive_refuses_work(tmp):
    pair = Pair(tmp, tmp, ["log.level=info"])
    try:
        # A backup alone never serves, however long it waits
        pair.start("backup")
        time.sleep(LIVENESS * 1.0 + 0.5)
        h = submit(pair.port["backup"])
        assert h["c"] == 10 and h["code"] == PASSIVE, h
        assert "never seen its primary" in h["reason"], h
        # The pair forms: the primary serves, the backup refuses with a
        # sentence and "go to the other one" (retry 0)
        pair.start("primary")
        wait_for(lambda: pair.state_of("primary") == "active", 20, "the primary to be active")
        wait_for(lambda: pair.state_of("backup") == "passive", 20, "the backup to stand by")
        h = submit(pair.port["backup"])
        assert h["c"] == 10 and h["code"] == PASSIVE and not h.get("retry_ms"), h
        assert "passive" in h["reason"] and "ask the other" in h["reason"], h
        assert submit(pair.port["primary"])["c"] == 8
        # A worker that registers with the passive broker is sent away (DISCONNECT 421)
        c = Client(pair.port["backup"])
        c.dealer.send_multipart([msgpack.packb({"p": "SLP1", "c": 1, "svc": ["nobody"], "credit": 1})])
        assert c.dealer.poll(3000), "no answer to READY"
        h = msgpack.unpackb(c.dealer.recv_multipart()[0])
        assert h["c"] == 19 and h["code"] == PASSIVE, h
        c.close()
        # Misconfigured pairs refuse to start, saying why
        bad = Sluiced(tmp, role="broker", sets=["broker.pair=leader", "broker.state_bind=tcp://127.0.0.1:%d" % free_port(),
                                               "broker.peer=tcp://127.0.0.1:%d" % free_port()],
                      log=os.path.join(tmp, "bad.log"))
        assert bad.proc.wait(timeout=20) != 0
        assert "must be 'primary' or 'backup'" in open(os.path.join(tmp, "bad.log")).read()
        bad = Sluiced(tmp, role="broker", sets=["broker.pair=primary"], log=os.path.join(tmp, "bad2.log"))
        assert bad.proc.wait(timeout=20) != 0
        assert "needs broker.state_bind" in open(os.path.join(tmp, "bad2.log")).read()
        bad = Sluiced(tmp, role="broker", sets=["broker.pair=primary", "broker.state_bind=tcp://0.0.0.0:%d" % free_port(),
                                               "broker.peer=tcp://127.0.0.1:%d" % free_port()],
                      log=os.path.join(tmp, "bad3.log"))
        assert bad.proc.wait(timeout=20) != 0
        assert "broker.state_bind" in open(os.path.join(tmp, "bad3.log")).read()
    finally:
        pair.stop()


def test_failover_no_split_brain_without_clients(tmp):
    pair = Pair(tmp, tmp, ["log.level=info", "broker.heartbeat_ms=%d" % HEARTBEAT_MS])
    try:
        pair.form()
        pair.kill("primary")
        # Nobody asks: the backup stays passive, however long the silence
        time.sleep(4 * LIVENESS * HEARTBEAT_MS / 1000.0)
        assert pair.state_of("backup") == "passive"
        # The first request makes it active (the primary's connection
        # closed: no need to wait)
        h = submit(pair.port["backup"])
        assert h["c"] == 8, h
        assert pair.state_of("backup") == "active"
        # The old primary, back, hears its peer active and stands by; a
        # request the moment it starts is refused (it waits to hear its peer)
        pair.start("primary")
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                h = submit(pair.port["primary"], 300)
                break
            except TimeoutError:
                continue
        assert h["c"] == 10 and h["code"] == PASSIVE, h
        wait_for(lambda: pair.state_of("primary") == "passive", 20, "the restarted primary to stand by")
        assert pair.state_of("backup") == "active"
        log = open(os.path.join(tmp, "broker-backup.log")).read()
        assert "failing over" in log, log[-2000:]
    finally:
        pair.stop()


def test_failover_silent_peer_and_dual_active(tmp):
    pair = Pair(tmp, tmp, ["log.level=info", "broker.heartbeat_ms=%d" % HEARTBEAT_MS])
    try:
        pair.form()
        # Silent, connections open (a partition, a hung host): no kernel
        # closes anything, so only the timeout tells
        pair.kill("primary", signal.SIGSTOP)
        t_stop = time.time()
        hints = []
        while True:
            h = submit(pair.port["backup"])
            if h["c"] == 8:
                break
            assert h["c"] == 10 and h["code"] == PASSIVE, h
            hints.append(h.get("retry_ms", 0))
            time.sleep(0.1)
        waited = time.time() - t_stop
        print("silent primary: taken over after %.2f s; hints %s" % (waited, sorted(set(hints))), flush=True)
        assert waited >= (LIVENESS - 1) * HEARTBEAT_MS / 1000.0, waited
        assert any(x > 0 for x in hints), hints     # "ask me again then"
        # Resumed: both active for a moment, the backup steps down
        pair.kill("primary", signal.SIGCONT)
        wait_for(lambda: pair.state_of("backup") == "passive", 20, "the backup to step down")
        assert pair.state_of("primary") == "active"
        assert "steps down" in open(os.path.join(tmp, "broker-backup.log")).read()
    finally:
        pair.stop()


def test_failover_python_client_moves_to_the_active_broker(tmp):
    """The Python client given both endpoints, the passive one first: its
    calls are refused there (421) and answered through the active one;
    once that one is killed they go to the other, which takes over."""
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import sluice
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    pair = Pair(tmp, data, ["log.level=info", "broker.heartbeat_ms=%d" % HEARTBEAT_MS])
    control = None
    try:
        pair.form()
        control = Sluiced(data, role="intake,query,journal", broker=pair.endpoints(),
                          sets=["log.level=info", "broker.heartbeat_ms=%d" % HEARTBEAT_MS],
                          log=os.path.join(tmp, "control.log"))
        primary = "tcp://127.0.0.1:%d" % pair.port["primary"]
        backup = "tcp://127.0.0.1:%d" % pair.port["backup"]
        unknown = "0" * 32
        c = sluice.Client(backup + "," + primary, timeout=10)
        try:
            assert c.endpoints == [backup, primary] and c.endpoint == primary, c.endpoint
            def answered():
                try:
                    c.job(unknown)
                except sluice.NotFound:
                    return True                 # the query service said so
                except (sluice.Unavailable, sluice.Timeout):
                    return False                # its worker not there yet
                return False
            wait_for(answered, 30, "the query service through the active broker")
            assert c.endpoint == primary, c.endpoint
            assert pair.state_of("backup") == "passive", "asking the passive one did not wake it"
            pair.kill("primary")
            # the next calls go to the backup, which takes over at the first
            wait_for(answered, 60, "an answer through the backup")
            assert c.endpoint == backup, c.endpoint
            assert pair.state_of("backup") == "active"
        finally:
            c.close()
    finally:
        if control is not None:
            control.kill(signal.SIGKILL)
        pair.stop()


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if a.startswith("test_")]
    sys.exit(Runner().run([test_failover_primary_killed_under_load, test_failover_passive_refuses_work,
                           test_failover_no_split_brain_without_clients, test_failover_silent_peer_and_dual_active,
                           test_failover_python_client_moves_to_the_active_broker],
                          only=set(names) or None))
