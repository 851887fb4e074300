#!/usr/bin/env python3
"""The load half of scripts/scale-test (python3 standard library only).

    scale-load.py --base http://127.0.0.1:PORT --tokens FILE --seconds N --timeline FILE --out DIR

FILE holds one bearer token per line, one client each (each its own user). Every client keeps
one HTTP/1.1 connection to the load balancer and loops over a steady mix until --seconds have
passed: the first page of its tasks, one of its tasks by id, a create with an Idempotency-Key,
and an append to its own conversation. It retries as docs/operations.md ("When the database goes away") tells clients to:

- GET, and POST /api/v1/tasks with an Idempotency-Key: after a connection error, a 502/503/504
  or a 429 (waiting Retry-After when there is one), up to 8 attempts within 15 s;
- an append (no idempotency key): only when the request provably reached no instance (the
  connection to the balancer was refused, or the balancer answered 503 "no server available"),
  or after a 429 or an `overloaded` 503, which are answered before anything is written.

When the load ends it reads back every acknowledged write (tasks by id, each conversation's
messages) and writes raw.json (one record per request: start, latency, operation, final status,
attempts) and writes.json (acknowledged writes, and those not readable) to --out. The timeline
file (written by scripts/scale-test: "<epoch seconds> <event> <instance>") is read by the
report, not here.
"""

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import uuid

RETRY_ATTEMPTS = 8
RETRY_WINDOW = 15.0


class Conn:
    """One keep-alive connection to the balancer; reconnects after an error or a close."""

    def __init__(self, host, port):
        self.host, self.port, self.conn = host, port, None

    def request(self, method, path, token, body=None, headers=None, idempotent=True):
        """(status, headers, body bytes) or (None, error class name, None) on a transport error."""
        hdrs = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for fresh in (False, True):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                fresh = True
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data
            except ConnectionRefusedError:
                self.close()
                return None, "refused", None
            except (OSError, http.client.HTTPException) as error:
                self.close()
                # A kept-alive connection the balancer had closed: an idempotent request is sent
                # once more on a new connection; on a new one, the error is the answer.
                stale = isinstance(error, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if fresh or not stale or not idempotent:
                    return None, type(error).__name__, None
        return None, "unreachable", None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None


def retry_after(headers, default=0.2):
    try:
        return max(float(headers.get("retry-after", default)), 0.05)
    except (TypeError, ValueError):
        return default


def never_reached(status, headers, body):
    """True when the answer proves nothing was written: safe to resend a non-idempotent POST."""
    if status is None:
        return headers == "refused"
    if status == 429:
        return True
    if status == 503:
        if b"No server is available" in (body or b""):
            return True  # the balancer's own 503
        try:
            return json.loads(body).get("code") == "overloaded"
        except (ValueError, AttributeError):
            return False
    return False


def transient(status):
    return status is None or status in (429, 502, 503, 504)


class Client(threading.Thread):
    def __init__(self, index, token, base, stop_at, records, lock):
        super().__init__(daemon=True)
        self.index, self.token, self.stop_at = index, token, stop_at
        parsed = urllib.parse.urlsplit(base)
        self.conn = Conn(parsed.hostname, parsed.port)
        self.records, self.lock = records, lock
        self.rng = random.Random(index)
        self.tasks, self.messages, self.conversation = [], [], None
        self.error = None

    def call(self, op, method, path, body=None, headers=None, idempotent=True):
        started = time.time()
        attempts = 0
        while True:
            attempts += 1
            status, hdrs, data = self.conn.request(method, path, self.token, body, headers, idempotent)
            again = transient(status) if idempotent else never_reached(status, hdrs, data)
            if not again or attempts >= RETRY_ATTEMPTS or time.time() - started > RETRY_WINDOW:
                break
            time.sleep(retry_after(hdrs) if status in (429, 503) else 0.1)
        latency = time.time() - started
        with self.lock:
            self.records.append((started, latency, op, status if status is not None else 0, attempts))
        return status, data

    def setup(self):
        status, data = self.call("setup", "POST", "/api/v1/conversations", json.dumps({"title": f"client {self.index}"}))
        if status != 201:
            raise RuntimeError(f"client {self.index}: creating its conversation answered {status}: {data[:200]!r}")
        self.conversation = json.loads(data)["id"]
        self.create()

    def create(self):
        key = str(uuid.uuid4())
        body = json.dumps({"title": f"scale test {key}", "tags": ["scale"]})
        status, data = self.call("create", "POST", "/api/v1/tasks", body, {"Idempotency-Key": key})
        if status == 201:
            self.tasks.append(json.loads(data)["id"])

    def append(self):
        body = json.dumps({"role": "user", "content": f"message {uuid.uuid4()}"})
        status, data = self.call("append", "POST", f"/api/v1/conversations/{self.conversation}/messages", body,
                                 idempotent=False)
        if status == 201:
            self.messages.append(json.loads(data)["id"])

    def run(self):
        try:
            self.setup()
            while time.time() < self.stop_at:
                roll = self.rng.random()
                if roll < 0.45:
                    self.call("list", "GET", "/api/v1/tasks?limit=20")
                elif roll < 0.70:
                    self.call("get", "GET", f"/api/v1/tasks/{self.rng.choice(self.tasks)}")
                elif roll < 0.88:
                    self.create()
                else:
                    self.append()
        except Exception as error:  # reported, and the run fails
            self.error = f"{type(error).__name__}: {error}"

    def unreadable(self):
        """Acknowledged writes that cannot be read back: (tasks, messages)."""
        lost_tasks = []
        for task in self.tasks:
            status, _ = self.call("verify", "GET", f"/api/v1/tasks/{task}")
            if status != 200:
                lost_tasks.append((task, status))
        seen, cursor = set(), None
        while True:
            path = f"/api/v1/conversations/{self.conversation}/messages?limit=100"
            if cursor:
                path += "&cursor=" + urllib.parse.quote(cursor)
            status, data = self.call("verify", "GET", path)
            if status != 200:
                return lost_tasks, [(m, status) for m in self.messages if m not in seen]
            page = json.loads(data)
            seen.update(item["id"] for item in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return lost_tasks, [(m, "missing") for m in self.messages if m not in seen]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ready-file", help="written once every client has set up")
    args = parser.parse_args()
    with open(args.tokens) as f:
        tokens = [line.strip() for line in f if line.strip()]
    records, lock = [], threading.Lock()
    stop_at = time.time() + args.seconds
    clients = [Client(i, t, args.base, stop_at, records, lock) for i, t in enumerate(tokens)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    errors = [c.error for c in clients if c.error]
    lost_tasks, lost_messages, acked_tasks, acked_messages = [], [], 0, 0
    for client in clients:
        if client.conversation is None:
            continue
        tasks, messages = client.unreadable()
        lost_tasks += tasks
        lost_messages += messages
        acked_tasks += len(client.tasks)
        acked_messages += len(client.messages)
    with open(os.path.join(args.out, "raw.json"), "w") as f:
        json.dump([r for r in records if r[2] != "verify"], f)
    with open(os.path.join(args.out, "writes.json"), "w") as f:
        json.dump({"acknowledged_tasks": acked_tasks, "acknowledged_messages": acked_messages,
                   "unreadable_tasks": lost_tasks, "unreadable_messages": lost_messages,
                   "client_errors": errors}, f)
    if errors:
        for error in errors:
            print(f"scale-load: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
