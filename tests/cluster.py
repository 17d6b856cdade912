"""cluster: the scaled topology on one machine, as separate processes on
loopback: PostgreSQL (tests/pg_server.sh), one broker, two edges, two
control processes (intake, journal, query) and two processes of each stage.
Every process is a real `sluiced` with one role set, exactly as the
Kubernetes manifests run it; all share one data folder (the blob volume).

Used by tests/test_chaos.py, and runnable by hand:
    /usr/bin/python3 tests/cluster.py [SECONDS]     (default: until Ctrl-C)
"""
import os, random, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Client, Sluiced, free_port, wait_for, wait_ready  # noqa: E402
import pg  # noqa: E402

STAGES = ("fetch", "parse", "chunk", "embed", "store")


class Cluster:
    def __init__(self, tmp, sets=(), replicas=2):
        self.tmp, self.sets = tmp, list(sets)
        self.data = os.path.join(tmp, "data")
        os.makedirs(self.data, exist_ok=True)
        try:
            self.pg_url, self.pgdir = pg.start(tmp, free_port())
        except pg.NotInstalled as e:
            raise SkipCluster(str(e))
        self.common = ["store.url=" + self.pg_url] + self.sets
        self.port = free_port()
        self.procs = {}          # name -> Sluiced
        self.spawn("broker", "broker")
        self.client = Client(self.port)
        for i in range(replicas):
            self.spawn("control-%d" % i, "intake,journal,query")
            for st in STAGES:
                self.spawn("%s-%d" % (st, i), st)
        for i in range(2):
            self.spawn("edge-%d" % i, "edge")
        wait_ready(self.client)
        self.edges = [self.procs["edge-%d" % i] for i in range(2)]

    def spawn(self, name, role):
        log = os.path.join(self.tmp, "%s.log" % name)
        p = Sluiced(self.data, role=role, port=self.port, sets=self.common, log=log)
        self.procs[name] = p
        return p

    def restart(self, name, sig=signal.SIGKILL):
        p = self.procs[name]
        p.kill(sig)
        # an edge comes back on its own port, like a pod behind its Service
        sets = self.common + (["http.port=%d" % p.http_port] if p.http_port else [])
        np = Sluiced(self.data, role=p.role, port=self.port, sets=sets, log=p.log_path)
        np.http_port = p.http_port or np.http_port
        self.procs[name] = np
        return np

    def actors(self):
        return [n for n in self.procs if n != "broker"]

    def psql(self, sql):
        out = subprocess.run(["psql", "-At", self.pg_url, "-c", sql], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        return out.stdout.strip()

    def stop(self):
        for p in self.procs.values():
            try:
                p.kill(signal.SIGKILL)
            except Exception:
                pass
        pg.stop(self.pgdir)


class SkipCluster(Exception):
    pass


if __name__ == "__main__":
    tmp = tempfile.mkdtemp(prefix="sluice-cluster-")
    c = Cluster(tmp)
    print("cluster up: broker tcp://127.0.0.1:%d, edges %s, PostgreSQL %s, logs in %s"
          % (c.port, ", ".join("http://127.0.0.1:%d" % e.http_port for e in c.edges), c.pg_url, tmp))
    try:
        time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 1e9)
    except KeyboardInterrupt:
        pass
    c.stop()
