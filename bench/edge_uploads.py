#!/usr/bin/python3
"""edge_uploads: N concurrent uploads of real PDFs to one sluiced (all roles),
for bench/edge.sh. Every upload is made unique (a comment appended after the
PDF's %%EOF, which readers ignore) so each one is parsed, chunked, embedded
and stored for real instead of being recognised as a duplicate.

Checks what the issue promises: every upload is answered 202 or 429 (nothing
else), and every accepted job completes. Reports acceptance latency, the time
until the last job completed, the edge's peak thread count, and the peak RSS
of the whole sluiced process (from /usr/bin/time -v).

Usage: edge_uploads.py SLUICED CORPUS_PDF_DIR N  -> one JSON line on stdout
"""
import http.client, json, os, random, re, signal, socket, subprocess, sys, tempfile, threading, time, uuid

SMALL = ["mcf_example.pdf", "mpintro.pdf", "euro.pdf", "shared-mime-info-spec.pdf"]


def free_port():
    while True:
        p = random.randint(20000, 30000)
        ok = True
        for q in (p, p + 1):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            s.close()
        if ok:
            return p


def main():
    sluiced, pdf_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pdfs = [open(os.path.join(pdf_dir, f), "rb").read() for f in SMALL if os.path.exists(os.path.join(pdf_dir, f))]
    if not pdfs:
        print(json.dumps({"error": "no PDFs in " + pdf_dir}))
        return 1
    tmp = tempfile.mkdtemp(prefix="sluice-bench-uploads-")
    http_port, broker_port = free_port(), free_port()
    time_log = os.path.join(tmp, "time.txt")
    log = open(os.path.join(tmp, "sluiced.log"), "wb")
    proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", time_log, sluiced, "--data", os.path.join(tmp, "data"),
                             "--set", "log.level=warn", "--set", "http.port=%d" % http_port,
                             "--set", "broker.bind=tcp://127.0.0.1:%d" % broker_port,
                             "--set", "http.max_connections=4096"], stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=2)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    # The sluiced under /usr/bin/time is its child
    child = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    spid = int(child[0]) if child else proc.pid

    results = [None] * n
    barrier = threading.Barrier(n)

    def upload(i):
        data = pdfs[i % len(pdfs)] + b"\n%% sluice bench " + uuid.uuid4().hex.encode() + b"\n"
        boundary = "----bench" + uuid.uuid4().hex
        body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doc%04d.pdf\"\r\n"
                 "Content-Type: application/pdf\r\n\r\n" % (boundary, i)).encode() + data
                + ("\r\n--%s--\r\n" % boundary).encode())
        try:
            barrier.wait(60)
            t0 = time.time()
            c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=300)
            c.request("POST", "/v1/ingest", body=body,
                      headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
            r = c.getresponse()
            reply = json.loads(r.read() or b"{}")
            job = reply["jobs"][0]["id"] if r.status == 202 else None
            results[i] = (r.status, time.time() - t0, job)
            c.close()
        except Exception as e:
            results[i] = (0, 0, repr(e))

    peak_threads = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                with open("/proc/%d/status" % spid) as f:
                    m = re.search(r"^Threads:\s+(\d+)", f.read(), re.M)
                    peak_threads[0] = max(peak_threads[0], int(m.group(1)))
            except OSError:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=upload, args=(i,)) for i in range(n)]
    t_start = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_answered = time.time() - t_start
    statuses = {}
    for st, _, _ in results:
        statuses[st] = statuses.get(st, 0) + 1
    accepted = [r[2] for r in results if r[0] == 202]
    lat = sorted(r[1] for r in results if r[0] in (202, 429))

    # Wait for every accepted job to finish
    pending, states = set(accepted), {}
    deadline = time.time() + 1800
    c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
    while pending and time.time() < deadline:
        c.request("GET", "/v1/status")
        st = json.loads(c.getresponse().read())
        jobs = st.get("jobs", {})
        if jobs.get("completed", 0) + jobs.get("failed", 0) >= len(accepted):
            break
        time.sleep(1)
    t_done = time.time() - t_start
    for job in accepted:
        c.request("GET", "/v1/jobs/" + job)
        r = c.getresponse()
        state = json.loads(r.read())["job"]["state"] if r.status == 200 else "missing"
        states[state] = states.get(state, 0) + 1
    stop.set()
    os.kill(spid, signal.SIGTERM)
    proc.wait(timeout=120)
    rss_kb = 0
    with open(time_log) as f:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
        rss_kb = int(m.group(1)) if m else 0
    out = {
        "uploads": n, "statuses": statuses, "accepted": len(accepted), "job_states": states,
        "answer_p50_s": lat[len(lat) // 2] if lat else None,
        "answer_p99_s": lat[int(len(lat) * 0.99) - 1] if lat else None,
        "all_answered_s": round(t_answered, 1), "all_done_s": round(t_done, 1),
        "peak_threads": peak_threads[0], "peak_rss_mb": round(rss_kb / 1024, 1),
        "ok": set(statuses) <= {202, 429} and states.get("completed", 0) == len(accepted),
    }
    print(json.dumps(out))
    subprocess.run(["rm", "-rf", tmp])
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
