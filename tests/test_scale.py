"""test_scale: the scaled topology on one machine: roles in separate
processes over tcp on loopback, CURVE-authenticated links, operational
endpoints. Real sluiced processes only.
Usage: /usr/bin/python3 tests/test_scale.py [test_name ...]
"""
import json, os, re, subprocess, sys, time, urllib.request

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CORPUS, SLUICED, Client, Runner, free_port, start, wait_for, wait_ready  # noqa: E402

PDF = os.path.join(CORPUS, "pdf")


def keygen(path):
    subprocess.run([SLUICED, "--keygen", path], check=True, capture_output=True)
    keys = {}
    for f, field in ((path, "public-key"), (path + "_secret", "secret-key")):
        m = re.search(field + r' = "(.+)"', open(f).read())
        keys[field] = m.group(1).encode()
    return keys


class CurveClient(Client):
    """The harness client with CURVE keys on both sockets (or none)."""

    def __init__(self, port, mine=None, broker_public=None):
        self.ctx = zmq.Context.instance()
        self.port, self.ws = port, "default"
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.sub = self.ctx.socket(zmq.SUB)
        for s in (self.dealer, self.sub):
            s.setsockopt(zmq.LINGER, 0)
            if mine:
                s.curve_secretkey = mine["secret-key"]
                s.curve_publickey = mine["public-key"]
                s.curve_serverkey = broker_public
        self.dealer.connect("tcp://127.0.0.1:%d" % port)
        self.sub.connect("tcp://127.0.0.1:%d" % (port + 1))
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")


def test_curve_refuses_unauthorised(tmp):
    keys = os.path.join(tmp, "keys")
    clients = os.path.join(keys, "clients")
    os.makedirs(clients)
    broker = keygen(os.path.join(keys, "broker"))
    worker = keygen(os.path.join(keys, "worker"))
    client = keygen(os.path.join(keys, "client"))
    rogue = keygen(os.path.join(keys, "rogue"))
    for name in ("worker", "client"):        # only these two are authorised
        os.rename(os.path.join(keys, name), os.path.join(clients, name + ".key"))
    os.rename(os.path.join(keys, "rogue"), os.path.join(keys, "rogue.key"))
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    b = start(data, role="broker", sets=["curve.broker_secret=%s" % os.path.join(keys, "broker_secret"),
                                         "curve.workers_dir=%s" % clients])
    peer = ["curve.broker_public=%s" % os.path.join(keys, "broker")]
    start(data, role="echo", port=b.port, sets=peer + ["curve.client_cert=%s" % os.path.join(keys, "worker_secret")])
    start(data, role="parse", port=b.port, sets=peer + ["curve.client_cert=%s" % os.path.join(keys, "rogue_secret")])
    start(data, role="chunk", port=b.port)     # plain: no keys at all
    good = CurveClient(b.port, client, broker["public-key"])
    wait_for(lambda: good.stats()["services"].get("echo", {}).get("workers") == 1, 20, "authorised worker")
    time.sleep(2)                              # give the refused ones every chance
    st = good.stats()["services"]
    assert st.get("parse", {}).get("workers", 0) == 0, st     # wrong key: never joined
    assert st.get("chunk", {}).get("workers", 0) == 0, st     # no key: never joined
    # the authorised client can submit; the rogue and the plain one get nothing
    h = good.submit(good.envelope("ping", ["echo"], {"x": 1}))
    assert h["c"] == 8, h                                     # ACCEPTED
    for bad in (CurveClient(b.port, rogue, broker["public-key"]), CurveClient(b.port)):
        try:
            bad._call({"c": 15}, timeout=1500)
            raise AssertionError("an unauthorised client was answered")
        except TimeoutError:
            pass
    assert good.stats()["malformed"] == 0


def test_operational_endpoints(tmp):
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    mport, hport = free_port(), free_port()
    b = start(data, role="broker", sets=["broker.metrics_port=%d" % mport, "broker.metrics_bind=127.0.0.1"])
    w = start(data, role="parse,chunk", port=b.port, sets=["worker.health_port=%d" % hport,
                                                          "worker.health_bind=127.0.0.1"])
    get = lambda port, path: urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5)
    wait_for(lambda: get(hport, "/readyz").status == 200, 20, "worker ready")
    stats = json.load(get(mport, "/stats.json"))
    assert stats["services"]["parse"]["workers"] == 1 and "queued" in stats["services"]["chunk"]
    text = get(mport, "/metrics").read().decode()
    assert 'sluice_broker_queue_depth{service="parse"} 0' in text and "sluice_broker_dlq_size 0" in text
    assert get(hport, "/healthz").read().decode().count(": ok") == 2
    # the broker goes away: the worker stops being ready, but stays alive
    b.kill()
    def not_ready():
        try:
            get(hport, "/readyz")
            return False
        except urllib.error.HTTPError as e:
            return e.code == 503 and b"not connected" in e.read()
    wait_for(not_ready, 20, "readyz to fail")
    assert get(hport, "/healthz").status == 200
    # it comes back: ready again, by itself
    start(data, role="broker", port=b.port)
    wait_for(lambda: get(hport, "/readyz").status == 200, 30, "worker ready again")


if __name__ == "__main__":
    tests = [test_curve_refuses_unauthorised, test_operational_endpoints]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
