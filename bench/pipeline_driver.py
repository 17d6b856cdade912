"""pipeline_driver: ingest a folder end to end through a running sluiced and
report pages/s, chunks/s and the process's peak RSS.

Usage: /usr/bin/python3 bench/pipeline_driver.py PORT PID FILE...
Submits every file as a file:// URL through intake (the same request the
HTTP edge makes), waits for all jobs, reads totals from the query service and
VmHWM from /proc/PID/status.
"""
import os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness import Client, wait_ready  # noqa: E402

port, pid, files = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
c = Client(port)
wait_ready(c)
t0 = time.time()
jobs = []
for f in files:
    while True:
        j = c.ingest(url="file://" + os.path.abspath(f))
        if "id" in j:
            jobs.append(j["id"])
            break
        time.sleep(0.05)          # 429: intake says wait
pages = chunks = failed = 0
stage_ms = {}
for jid in jobs:
    job = c.wait(jid, 600)
    if job["state"] != "completed":
        failed += 1
        print("failed:", job["source"], job["error"], file=sys.stderr)
        continue
    doc = c.request("query", "doc_get", {"id": job["document_id"]})["document"]
    pages += doc["pages"]
    chunks += doc["chunks"]
    for name, st in job["stages"].items():
        stage_ms[name] = stage_ms.get(name, 0) + (st.get("duration_ms") or 0)
secs = time.time() - t0
rss = 0
with open("/proc/%d/status" % pid) as fh:
    for line in fh:
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) // 1024
embed_s = stage_ms.get("embed", 0) / 1000
print("files=%d failed=%d pages=%d chunks=%d seconds=%.2f pages_per_sec=%.0f chunks_per_sec=%.0f "
      "embed_chunks_per_stage_sec=%.0f peak_rss_mib=%d stage_ms=%s"
      % (len(files), failed, pages, chunks, secs, pages / secs, chunks / secs,
         chunks / embed_s if embed_s else 0, rss, ",".join("%s:%d" % kv for kv in sorted(stage_ms.items()))))
