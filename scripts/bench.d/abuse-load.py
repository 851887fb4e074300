#!/usr/bin/env python3
"""The load half of scripts/abuse-load (python3 standard library only).

    abuse-load.py --base http://127.0.0.1:PORT --pid SERVER_PID --tokens FILE [options]

FILE holds one line per client, "<owner token> <client token>": the client reads its owner's
conversation and posts batches as itself. Seeds one conversation per distinct owner (100
messages of 100,000 x U+0001, ~600 KB of JSON each), then runs the clients for --seconds:
each alternates (a) POST /api/v1/tasks/batch, 1000 items x 140 unknown keys (expected 422),
and (b) GET /api/v1/conversations/{id}/messages?limit=100 (expected 200, a page cut at 1 MiB).
A monitor process samples the server's VmRSS every 100 ms and GETs /health/live every 200 ms
on a fresh connection (2 s timeout). Prints the summary and writes it as JSON to --json.
Exit status: 0 when every check holds, 1 when one fails, 2 when seeding or set-up fails.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import urllib.parse

MIB = 1024 * 1024
CONTENT_CHARS = 100_000
MESSAGES = 100
BATCH_ITEMS = 1000
UNKNOWN_KEYS = 140  # "aa", "ab", ... "fj"


def die(msg):
    print(f"abuse-load: error: {msg}", file=sys.stderr)
    sys.exit(2)


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects after an error or a `Connection: close`."""

    def __init__(self, host, port, timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def request(self, method, path, token=None, body=None):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if resp.will_close:
            self.close()
        return resp.status, resp.getheader("Retry-After"), data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def problem_code(data):
    try:
        return json.loads(data).get("code")
    except (ValueError, AttributeError):
        return None


# ------------------------------------------------------------------------------------ seed
def seed_conversation(host, port, token, index, out, errors):
    """One conversation with MESSAGES messages of CONTENT_CHARS x U+0001, as `token`."""
    c = Client(host, port, timeout=60)
    body = json.dumps({"role": "user", "content": "\u0001" * CONTENT_CHARS}, separators=(",", ":")).encode()

    def send(method, path, payload, want):
        for _ in range(50):  # 429s (the seed is within the burst, but be patient) and 503s
            status, retry, data = c.request(method, path, token, payload)
            if status == want:
                return data
            if status in (429, 503):
                time.sleep(min(float(retry or 1), 5))
                continue
            raise RuntimeError(f"{method} {path} answered {status}: {data[:300]!r}")
        raise RuntimeError(f"{method} {path}: still refused after 50 tries")

    try:
        conv = json.loads(send("POST", "/api/v1/conversations", json.dumps({"title": f"abuse {index}"}).encode(), 201))
        path = f"/api/v1/conversations/{conv['id']}/messages"
        for _ in range(MESSAGES):
            send("POST", path, body, 201)
        status, _, data = c.request("GET", f"/api/v1/conversations/{conv['id']}", token)
        count = json.loads(data).get("message_count") if status == 200 else None
        if count != MESSAGES:
            raise RuntimeError(f"the conversation holds {count} messages, expected {MESSAGES} ({status})")
        out[index] = conv["id"]
    except Exception as e:  # reported by the caller
        errors.append(f"seeding conversation {index}: {e}")
    finally:
        c.close()


def batch_body():
    keys = [a + b for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"][:UNKNOWN_KEYS]
    item = "{" + ",".join(f'"{k}":1' for k in keys) + "}"
    body = ('{"tasks":[' + ",".join([item] * BATCH_ITEMS) + "]}").encode()
    assert len(body) < MIB, len(body)
    return body


# --------------------------------------------------------------------------------- monitor
def monitor(pid, host, port, stop, conn):
    """Runs in its own process, so the load threads' GIL cannot delay its clock."""
    peak_rss = 0
    samples = 0
    probes = []  # (latency s, status or error)
    next_probe = time.monotonic()
    while not stop.is_set():
        rss = proc_kb(pid, "VmRSS")
        peak_rss = max(peak_rss, rss)
        samples += 1
        now = time.monotonic()
        if now >= next_probe:
            next_probe = now + 0.2
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection(host, port, timeout=2)
                c.request("GET", "/health/live", headers={"Connection": "close"})
                r = c.getresponse()
                r.read()
                c.close()
                result = r.status
            except Exception as e:  # timeouts included
                result = type(e).__name__
            probes.append((time.monotonic() - t0, result))
        stop.wait(0.1)
    conn.send({"peak_rss_kb": peak_rss, "rss_samples": samples, "probes": probes})
    conn.close()


# ------------------------------------------------------------------------------------ load
class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}  # (kind, status label) -> n
        self.latency = {"batch": [], "page": []}
        self.violations = []  # contract breaches seen in answers (first few kept)
        self.violation_count = 0
        self.page_bytes_max = 0
        self.page_items = set()

    def add(self, kind, label, seconds):
        with self.lock:
            self.counts[(kind, label)] = self.counts.get((kind, label), 0) + 1
            self.latency[kind].append(seconds)

    def violation(self, msg):
        with self.lock:
            self.violation_count += 1
            if len(self.violations) < 10:
                self.violations.append(msg)


def label_for(status, data):
    if status >= 500 or status == 429:
        return f"{status} {problem_code(data) or '?'}"
    return str(status)


def client_loop(i, host, port, owner_token, client_token, conv_id, body, deadline, stats, mix):
    c = Client(host, port, timeout=30)
    page_path = f"/api/v1/conversations/{conv_id}/messages?limit=100"
    turn = i % 2  # half the clients start with a batch, half with a page
    while time.monotonic() < deadline:
        kind = "batch" if turn == 0 else "page"
        if mix == "ab":
            turn ^= 1
        else:
            kind = "batch" if mix == "a" else "page"
        t0 = time.monotonic()
        try:
            if kind == "batch":
                status, _, data = c.request("POST", "/api/v1/tasks/batch", client_token, body)
            else:
                status, _, data = c.request("GET", page_path, owner_token)
        except Exception as e:
            stats.add(kind, f"error {type(e).__name__}", time.monotonic() - t0)
            time.sleep(0.05)
            continue
        stats.add(kind, label_for(status, data), time.monotonic() - t0)
        if kind == "batch" and status == 422:
            try:
                problem = json.loads(data)
                errs = problem.get("errors", [])
                if len(errs) > 100 or not problem.get("errors_omitted"):
                    stats.violation(f"422 with {len(errs)} errors, errors_omitted={problem.get('errors_omitted')}")
            except ValueError:
                stats.violation("422 body is not JSON")
        elif kind == "page" and status == 200:
            with stats.lock:
                stats.page_bytes_max = max(stats.page_bytes_max, len(data))
            if len(data) > MIB:
                stats.violation(f"page of {len(data)} bytes (over 1 MiB)")
            # Checked without parsing ~600 KB of JSON per page (the client shares 2 cores with
            # the server): every message carries "conversation_id", and items remain, so the
            # page must end with a cursor.
            items = data.count(b'"conversation_id":')
            with stats.lock:
                stats.page_items.add(items)
            if items < 1 or not data.startswith(b'{"items":[') or b'"next_cursor":"' not in data[-600:]:
                try:  # another layout: parse it after all
                    page = json.loads(data)
                    ok = bool(page["items"]) and bool(page.get("next_cursor"))
                except (ValueError, KeyError, TypeError):
                    ok = False
                if not ok:
                    stats.violation(f"not a page of at least one item with a next_cursor: ...{data[-200:]!r}")
        elif kind == "batch" and status not in (422, 429, 503):
            stats.violation(f"batch answered {status}: {data[:200]!r}")
        elif kind == "page" and status not in (200, 429, 503):
            stats.violation(f"page answered {status}: {data[:200]!r}")
        if status == 429:
            pass  # counted; a real client would wait Retry-After, an abusive one does not
    c.close()


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rss-limit-mb", type=float, default=256)
    ap.add_argument("--mix", default="ab", choices=["ab", "a", "b"], help="a: batches only, b: pages only")
    ap.add_argument("--json")
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.base)
    host, port = u.hostname, u.port
    with open(args.tokens) as f:
        pairs = [line.split() for line in f if line.strip()]
    owners = sorted({p[0] for p in pairs}, key=[p[0] for p in pairs].index)

    # Seed: one conversation per owner, in parallel (SQLite serialises the appends anyway).
    t0 = time.monotonic()
    conv_ids, errors = {}, []
    threads = [
        threading.Thread(target=seed_conversation, args=(host, port, tok, n, conv_ids, errors))
        for n, tok in enumerate(owners)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        die("; ".join(errors))
    seed_s = time.monotonic() - t0
    owner_conv = {tok: conv_ids[n] for n, tok in enumerate(owners)}
    print(
        f"abuse-load: seeded {len(owners)} conversations x {MESSAGES} messages of {CONTENT_CHARS:,} x U+0001 "
        f"in {seed_s:.1f} s; server RSS {proc_kb(args.pid, 'VmRSS') / 1024:.1f} MB",
        file=sys.stderr,
    )

    body = batch_body()
    # One of each by hand first: the expected answers, or the run is meaningless.
    c = Client(host, port)
    status, _, data = c.request("POST", "/api/v1/tasks/batch", pairs[0][1], body)
    if status != 422:
        die(f"the batch of unknown keys answered {status}, expected 422: {data[:300]!r}")
    status, _, data = c.request("GET", f"/api/v1/conversations/{owner_conv[pairs[0][0]]}/messages?limit=100", pairs[0][0])
    if status != 200:
        die(f"the page of messages answered {status}, expected 200: {data[:300]!r}")
    c.close()
    rss_before = proc_kb(args.pid, "VmRSS")
    hwm_before = proc_kb(args.pid, "VmHWM")

    stop = multiprocessing.Event()
    parent_end, child_end = multiprocessing.Pipe(duplex=False)
    mon = multiprocessing.Process(target=monitor, args=(args.pid, host, port, stop, child_end), daemon=True)
    mon.start()

    stats = Stats()
    cpu0, own0 = cpu_seconds(args.pid), sum(os.times()[:2])
    t_start = time.monotonic()
    deadline = t_start + args.seconds
    workers = [
        threading.Thread(
            target=client_loop,
            args=(i, host, port, owner, client, owner_conv[owner], body, deadline, stats, args.mix),
            daemon=True,
        )
        for i, (owner, client) in enumerate(pairs)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=max(0.0, deadline - time.monotonic()) + 40)
    elapsed = time.monotonic() - t_start
    server_cpu, client_cpu = cpu_seconds(args.pid) - cpu0, sum(os.times()[:2]) - own0
    stuck = sum(w.is_alive() for w in workers)
    # The monitor keeps probing for a second after the load, then stops.
    time.sleep(1.0)
    stop.set()
    mon_result = parent_end.recv() if parent_end.poll(10) else {"peak_rss_kb": 0, "rss_samples": 0, "probes": []}
    mon.join(5)
    rss_after = proc_kb(args.pid, "VmRSS")
    hwm = proc_kb(args.pid, "VmHWM")
    alive = os.path.exists(f"/proc/{args.pid}")

    probes = mon_result["probes"]
    probe_lat = [p[0] for p in probes]
    probe_bad = [p for p in probes if p[1] != 200 or p[0] > 2.0]
    total = sum(stats.counts.values())
    bad_5xx = {k: n for k, n in stats.counts.items() if k[1][:1] == "5" and k[1] != "503 overloaded"}
    errors_net = {k: n for k, n in stats.counts.items() if k[1].startswith("error")}

    failures = []
    if hwm / 1024 >= args.rss_limit_mb:
        failures.append(f"peak RSS {hwm / 1024:.1f} MB >= {args.rss_limit_mb:g} MB")
    if not probes:
        failures.append("no /health/live probe ran")
    if probe_bad:
        failures.append(f"{len(probe_bad)} /health/live probe(s) failed or took > 2 s: {probe_bad[:5]}")
    if bad_5xx:
        failures.append(f"5xx other than 503 overloaded: {bad_5xx}")
    if errors_net:
        failures.append(f"connection errors: {errors_net}")
    if stats.violation_count:
        failures.append(f"{stats.violation_count} answer(s) broke the contract, e.g. {stats.violations[:3]}")
    if stuck:
        failures.append(f"{stuck} client(s) still waiting for an answer 40 s after the end")
    if not alive:
        failures.append("the server died")
    if total == 0:
        failures.append("no request completed")

    # ---------------------------------------------------------------------------- summary
    out = []
    out.append(f"{len(pairs)} clients ({len(owners)} conversation owners, mix {args.mix}), {elapsed:.1f} s, {total} requests ({total / elapsed:.0f} req/s)")
    out.append("")
    out.append(f"| {'request':<42} | {'status':<24} | {'count':>6} | {'p50 ms':>8} | {'max ms':>8} |")
    out.append(f"|{'-' * 44}|{'-' * 26}|{'-' * 7}:|{'-' * 9}:|{'-' * 9}:|")
    names = {"batch": "POST tasks/batch (1000 x 140 unknown keys)", "page": "GET messages?limit=100 (600 KB messages)"}
    for kind in ("batch", "page"):
        for (k, lab), n in sorted(stats.counts.items()):
            if k != kind:
                continue
            out.append(f"| {names[kind]:<42} | {lab:<24} | {n:>6} | {'':>8} | {'':>8} |")
        lat = stats.latency[kind]
        out.append(f"| {'  all ' + kind + ' requests':<42} | {'':<24} | {len(lat):>6} | {pct(lat, 0.5) * 1000:>8.1f} | {max(lat, default=0) * 1000:>8.1f} |")
    out.append("")
    out.append(f"| {'figure':<42} | {'value':<24} |")
    out.append(f"|{'-' * 44}|{'-' * 26}|")
    rows = [
        ("peak RSS (VmHWM)", f"{hwm / 1024:.1f} MB (limit {args.rss_limit_mb:g})"),
        ("RSS before / peak sampled / 1 s after", f"{rss_before / 1024:.1f} / {mon_result['peak_rss_kb'] / 1024:.1f} / {rss_after / 1024:.1f} MB"),
        ("VmHWM before the load (after seeding)", f"{hwm_before / 1024:.1f} MB"),
        ("largest page", f"{stats.page_bytes_max:,} bytes; items {sorted(stats.page_items)}"),
        ("/health/live probes", f"{len(probes)}, {len(probe_bad)} failed"),
        ("/health/live latency p50 / max", f"{pct(probe_lat, 0.5) * 1000:.1f} / {max(probe_lat, default=0) * 1000:.1f} ms"),
        ("CPU during the load: server / clients", f"{server_cpu:.1f} / {client_cpu:.1f} s ({os.cpu_count()} cores)"),
        ("seeding", f"{seed_s:.1f} s"),
    ]
    for a, b in rows:
        out.append(f"| {a:<42} | {b:<24} |")
    out.append("")
    out.append("FAIL: " + "; ".join(failures) if failures else "PASS")
    print("\n".join(out))

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "clients": len(pairs),
                    "seconds": elapsed,
                    "counts": {f"{k} {lab}": n for (k, lab), n in sorted(stats.counts.items())},
                    "peak_rss_mb": hwm / 1024,
                    "rss_before_mb": rss_before / 1024,
                    "rss_after_mb": rss_after / 1024,
                    "health_probes": len(probes),
                    "health_failed": len(probe_bad),
                    "health_max_ms": max(probe_lat, default=0) * 1000,
                    "largest_page_bytes": stats.page_bytes_max,
                    "failures": failures,
                },
                f,
                indent=2,
            )
    return 1 if failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
