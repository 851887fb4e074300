#!/usr/bin/env python3
"""The report of scripts/scale-test: reads raw.json and writes.json (from scale-load.py) and the
timeline of restarts, prints the report (Markdown) and exits 1 when a promise was broken:

- a request answered non-2xx (after the client's retries) while no instance was killed;
- an acknowledged write that cannot be read back, whenever it happened.

    scale-report.py --dir DIR --timeline FILE

The timeline has one line per event, "<epoch seconds> <event> <instance>": `sigterm`, `up`
(the restarted instance answers readiness and the balancer has it back), `sigkill`. A restart
window runs from its signal to its `up`; a request in flight at any moment of one belongs to
it, and those of a SIGKILL window are judged apart, since a killed instance loses the
requests it held.
"""

import argparse
import json
import os
import sys


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--timeline", required=True)
    parser.add_argument("--instances", type=int, default=3)
    args = parser.parse_args()
    with open(os.path.join(args.dir, "raw.json")) as f:
        records = json.load(f)
    with open(os.path.join(args.dir, "writes.json")) as f:
        writes = json.load(f)
    events = []
    with open(args.timeline) as f:
        for line in f:
            at, event, instance = line.split()
            events.append((float(at), event, instance))

    # Restart windows: (start, end, kind, instance).
    windows, open_since = [], {}
    for at, event, instance in events:
        if event in ("sigterm", "sigkill"):
            open_since[instance] = (at, event)
        elif event == "up" and instance in open_since:
            start, kind = open_since.pop(instance)
            windows.append((start, at, kind, instance))
    first_restart = min((w[0] for w in windows), default=float("inf"))

    def phase(started, latency):
        """A request in flight at any moment of a restart window belongs to it; SIGKILL first."""
        ended = started + latency
        for wanted in ("sigkill", "sigterm"):
            for start, end, kind, _ in windows:
                if kind == wanted and started <= end and ended >= start:
                    return kind
        return "steady" if started < first_restart else "between"

    by_phase = {}
    for started, latency, op, status, attempts in records:
        entry = by_phase.setdefault(phase(started, latency), {"n": 0, "non2xx": 0, "retried": 0, "lat": [], "statuses": {}})
        entry["n"] += 1
        entry["lat"].append(latency * 1000)
        entry["retried"] += attempts > 1
        if not 200 <= status < 300:
            entry["non2xx"] += 1
            key = f"{op} {status or 'no answer'}"
            entry["statuses"][key] = entry["statuses"].get(key, 0) + 1

    span = (max(r[0] for r in records) - min(r[0] for r in records)) if records else 0
    out = []
    say = out.append
    say(f"{len(records)} requests in {span:.0f} s through HAProxy to {args.instances} instances "
        f"({len(records) / span if span else 0:.0f} req/s); restarts:")
    for start, end, kind, instance in windows:
        say(f"- {instance}: {'SIGTERM' if kind == 'sigterm' else 'SIGKILL'}, back in rotation after {end - start:.1f} s")
    say("")
    say("| phase | requests | non-2xx after retries | retried | p50 ms | p99 ms |")
    say("|---|---:|---:|---:|---:|---:|")
    labels = {"steady": "before any restart", "sigterm": "during SIGTERM restarts", "between": "between restarts",
              "sigkill": "during the SIGKILL restart"}
    for key in ("steady", "sigterm", "between", "sigkill"):
        entry = by_phase.get(key)
        if not entry:
            continue
        say(f"| {labels[key]} | {entry['n']} | {entry['non2xx']} | {entry['retried']} | "
            f"{pct(entry['lat'], 0.5):.1f} | {pct(entry['lat'], 0.99):.1f} |")
    say("")
    lost = len(writes["unreadable_tasks"]) + len(writes["unreadable_messages"])
    say(f"acknowledged writes: {writes['acknowledged_tasks']} tasks, {writes['acknowledged_messages']} messages; "
        f"not readable at the end: {lost}")
    failures = []
    for key in ("steady", "sigterm", "between"):
        entry = by_phase.get(key)
        if entry and entry["non2xx"]:
            failures.append(f"{labels[key]}: {entry['non2xx']} non-2xx ({entry['statuses']})")
    if by_phase.get("sigkill", {}).get("non2xx"):
        say(f"(during the SIGKILL restart: {by_phase['sigkill']['statuses']}; allowed: a killed instance "
            f"loses what it held, and a non-idempotent append cannot be retried)")
    if lost:
        failures.append(f"{lost} acknowledged writes not readable: "
                        f"{(writes['unreadable_tasks'] + writes['unreadable_messages'])[:5]}")
    if writes.get("client_errors"):
        failures.append(f"client errors: {writes['client_errors'][:3]}")
    if not windows:
        failures.append("no restart completed")
    say("")
    say("PASS" if not failures else "FAIL: " + "; ".join(failures))
    print("\n".join(out))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
