"""soak_driver: a whole corpus uploaded over HTTP into one running sluiced,
with a backlog far longer than jobs.stale_s; then what it cost and what the
collector took back.

Usage: /usr/bin/python3 bench/soak_driver.py HTTP_PORT BROKER_PORT PID DATA_DIR REFUSED FILE...
Uploads every FILE as fast as the edge accepts (its name relative to the
corpus folder), plus REFUSED uploads of random bytes (refused as
application/octet-stream or failed by parse: their blobs are garbage),
waits for every job, then waits for the collector. Prints one line of
key=value figures.
"""
import json, os, subprocess, sys, time, urllib.error, urllib.parse, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness import Client, wait_ready  # noqa: E402

http, broker, pid, data, refused = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                    sys.argv[4], int(sys.argv[5]))
files = sys.argv[6:]
base = "http://127.0.0.1:%d" % http
top = os.path.commonpath([os.path.dirname(f) for f in files])


def post(path, body, ctype):
    while True:
        req = urllib.request.Request(base + path, data=body, method="POST", headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code in (429, 503):
                time.sleep(0.2)
                continue
            return e.code, json.loads(e.read() or b"{}")


def metric(text, name, label=None):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (label is None or label in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def metrics():
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            return r.read().decode()
    except urllib.error.URLError:
        return ""


def du(path):
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True).stdout.split()[0])


def rss():
    with open("/proc/%d/status" % pid) as fh:
        return {k: int(v.split()[0]) // 1024 for k, v in (line.split(":", 1) for line in fh)
                if k in ("VmHWM", "VmRSS")}


c = Client(broker)
wait_ready(c)
t0 = time.time()
jobs = []
for f in files:
    name = os.path.relpath(f, top)
    st, reply = post("/v1/ingest?name=" + urllib.parse.quote(name), open(f, "rb").read(),
                     "application/pdf" if f.endswith(".pdf") else "text/html" if f.endswith(".html") else "text/plain")
    assert st == 202, (st, reply)
    jobs.append(reply["jobs"][0]["id"])
refused_status = {}
for i in range(refused):
    # random bytes named .txt: accepted, then failed by parse (not text)
    st, reply = post("/v1/ingest?name=junk/%d.txt" % i, os.urandom(256 << 10), "text/plain")
    refused_status[st] = refused_status.get(st, 0) + 1
    if st == 202:
        jobs.append(reply["jobs"][0]["id"])
accepted_s = time.time() - t0
longest_wait = 0
pages = 0
redrives = 0
overwritten = 0
abandoned_jobs = 0
states = {}
for jid in jobs:
    job = c.wait(jid, 3600)
    states[job["state"]] = states.get(job["state"], 0) + 1
    redrives += job.get("attempts") or 0
    abandoned_jobs += "abandoned" in (job.get("error") or "")
    if job["state"] == "completed" and not job.get("duplicate_of"):
        d = c.request("query", "doc_get", {"id": job["document_id"]})
        if "document" in d:
            pages += d["document"]["pages"]
        else:
            overwritten += 1      # completed, but its document was replaced since
    # the longest the job went without an event: what the old re-driver
    # took for a dead worker once it passed jobs.stale_s
    ts = sorted(e["ts"] for e in c.events(jid)["events"] if "ts" in e)
    for a, b in zip(ts, ts[1:]):
        longest_wait = max(longest_wait, (b - a) / 1000)
ingest_s = time.time() - t0
docs = c.request("query", "status", {})
fetch = c.stats()["services"].get("fetch", {})
junk_mib = refused * (256 << 10) / 2**20
# the collector: wait for a pass after the grace period
time.sleep(float(os.environ.get("SOAK_GC_WAIT", "20")))
m2 = metrics()
disk_after_gc = du(data)
mem = rss()
print("files=%d pages=%d refused_uploads=%d refused_status=%s jobs=%d states=%s documents=%s pages_per_sec=%s "
      "seconds=%.1f accepted_in=%.1f longest_silence_s=%.1f fetch_submitted=%d redriven=%d held=%d "
      "abandoned=%d job_redrives=%d jobs_abandoned=%d completed_but_gone=%d peak_rss_mib=%d junk_mib=%.1f disk_end_mib=%.1f reclaimed_mib=%.1f "
      "reclaimed_files=%d"
      % (len(files), pages, refused, json.dumps(refused_status).replace(" ", ""), len(jobs),
         json.dumps(states).replace(" ", ""), docs.get("documents"), "%.1f" % (pages / ingest_s), ingest_s, accepted_s, longest_wait,
         fetch.get("submitted", 0), metric(m2, "sluice_redrive_total", 'outcome="redriven"'),
         metric(m2, "sluice_redrive_total", 'outcome="held"'), metric(m2, "sluice_redrive_total", 'outcome="abandoned"'), redrives, abandoned_jobs, overwritten,
         mem["VmHWM"], junk_mib, disk_after_gc / 2**20,
         metric(m2, "sluice_reclaimed_bytes_total") / 2**20, metric(m2, "sluice_reclaimed_files_total")))
