-- wrk: POST BENCH_BODY (JSON) to the URL on the command line as the benchmark user
-- (BENCH_TOKEN). No Idempotency-Key: each request is a plain create or append; the server
-- makes every id, so one fixed body is enough. Built once, replayed as is.
local token = os.getenv("BENCH_TOKEN")
local body = os.getenv("BENCH_BODY")
assert(token and token ~= "", "BENCH_TOKEN is unset")
assert(body and body ~= "", "BENCH_BODY is unset")
wrk.method = "POST"
wrk.body = body
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
