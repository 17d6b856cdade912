-- wrk_ingest_url.lua: POST /v1/ingest with a small JSON body naming one URL,
-- a different URL on every request (so nothing can be deduplicated).
local counter = 0
local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
function request()
  counter = counter + 1
  local body = string.format('{"url":"http://127.0.0.1:9/doc-%d-%d.html"}', tid or 0, counter)
  return wrk.format("POST", "/v1/ingest", { ["Content-Type"] = "application/json" }, body)
end
function response(status, headers, body)
  if status ~= 202 then
    errors_seen = (errors_seen or 0) + 1
  end
end
