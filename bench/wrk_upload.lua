-- wrk_upload.lua: POST /v1/ingest with a small multipart/form-data upload
-- (one ~2 KiB text file), the same bytes every time.
local boundary = "----sluicebench7d2f"
local text = string.rep("Benchmark document line for the HTTP edge upload path.\n", 36)
local body = "--" .. boundary .. "\r\n"
  .. 'Content-Disposition: form-data; name="file"; filename="bench.txt"\r\n'
  .. "Content-Type: text/plain\r\n\r\n" .. text .. "\r\n--" .. boundary .. "--\r\n"
wrk.method = "POST"
wrk.path = "/v1/ingest"
wrk.body = body
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
