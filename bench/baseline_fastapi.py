"""baseline_fastapi: POST /v1/ingest the way it is commonly built in Python,
for bench/edge.sh to compare with Sluice's HTTP edge in the same run.

FastAPI + uvicorn (Debian's python3-fastapi, python3-uvicorn with uvloop and
httptools), jobs recorded and enqueued in Redis (python3-redis, asyncio
client): a job hash plus RPUSH onto an "ingest" list, in one pipeline.
Accepts the same bodies the benchmark sends to Sluice: {"url"} / {"urls"}
JSON and multipart/form-data file parts (streamed to a blob folder under
their sha256, as Sluice does). Run:

    REDIS_PORT=6390 BLOB_DIR=/tmp/blobs python3 -m uvicorn baseline_fastapi:app \
        --app-dir bench --host 127.0.0.1 --port 8090 --workers 2 --no-access-log
"""
import hashlib, json, os, tempfile, time, uuid

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
redis = aioredis.Redis(host="127.0.0.1", port=int(os.environ.get("REDIS_PORT", "6379")))
BLOBS = os.environ.get("BLOB_DIR", "/tmp/baseline-blobs")
os.makedirs(BLOBS, exist_ok=True)


def error(status, message):
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


async def save_upload(upload):
    """Stream an UploadFile into BLOBS/<sha256>; returns (sha256, size)."""
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=BLOBS, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = await upload.read(65536)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
    sha = h.hexdigest()
    os.replace(tmp, os.path.join(BLOBS, sha))
    return sha, size


@app.post("/v1/ingest")
async def ingest(request: Request):
    ctype = request.headers.get("content-type", "")
    docs = []
    if ctype.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            return error(400, "malformed JSON")
        urls = [body["url"]] if isinstance(body, dict) and "url" in body else (body or {}).get("urls")
        if not urls or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
            return error(400, "send {\"url\": ...} or {\"urls\": [...]}")
        docs = [{"url": u} for u in urls]
    elif ctype.startswith("multipart/form-data"):
        form = await request.form()
        for _, value in form.multi_items():
            if hasattr(value, "read"):
                sha, size = await save_upload(value)
                docs.append({"blob": sha, "size": size, "filename": value.filename or "upload"})
        if not docs:
            return error(400, "no file part")
    else:
        return error(415, "unsupported content type")
    now = int(time.time() * 1000)
    jobs = []
    pipe = redis.pipeline(transaction=False)
    for d in docs:
        job = dict(d, id=uuid.uuid4().hex, state="queued", created=now)
        pipe.hset("job:" + job["id"], mapping={k: str(v) for k, v in job.items()})
        pipe.rpush("ingest", json.dumps(job))
        job["status_url"] = "/v1/jobs/" + job["id"]
        jobs.append(job)
    await pipe.execute()
    return JSONResponse({"jobs": jobs}, status_code=202, headers={"Location": jobs[0]["status_url"]})
