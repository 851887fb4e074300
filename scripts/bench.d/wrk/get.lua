-- wrk: GET the URL on the command line as the benchmark user (BENCH_TOKEN).
-- The request is built once and replayed as is (no per-request Lua), so wrk stays cheap.
local token = os.getenv("BENCH_TOKEN")
assert(token and token ~= "", "BENCH_TOKEN is unset")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
