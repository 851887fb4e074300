"""Schemathesis hooks for scripts/api-fuzz (loaded through SCHEMATHESIS_HOOKS).

A create with an `Idempotency-Key` that was used before answers with the first response, as
API.md promises, even when that task has since been deleted: the replay names a task that now
answers 404. Hypothesis re-sends earlier requests unchanged (a stateful scenario often starts
with the prefix of an earlier one), so the stateful phase could replay such a key and then
report the 404 as "created resource not found". These hooks remember which task each key
created and which tasks were deleted, and give a create whose key names a deleted task a fresh
key instead. Replays of live tasks, reused keys and malformed keys are still sent as generated.

The stateful phase also cannot know that `POST /api/v1/tasks/{id}/restore` brings a deleted
task back (only a create on the deleted path or above it counts as one for its checks), so a
restore followed by a read looked like a deleted task still served. After a restore succeeds
(and its response has been checked), these hooks delete the task again, out of band, so the
service's state stays what the tool believes it is.
"""

import itertools
import os
import time
import urllib.error
import urllib.request

import schemathesis

TASKS = "/api/v1/tasks"
TASK = "/api/v1/tasks/{id}"
RESTORE = "/api/v1/tasks/{id}/restore"

_created = {}  # Idempotency-Key -> the id of the task its first create made
_deleted = set()  # ids of tasks deleted (and not restored since)
_fresh = itertools.count()


def _key_header(headers):
    for name in headers or {}:
        if name.lower() == "idempotency-key":
            return name
    return None


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() != "POST" or case.path != TASKS:
        return
    name = _key_header(case.headers)
    if name is None:
        return
    key = case.headers[name]
    if _created.get(key) in _deleted:
        case.headers[name] = f"{key[:200]}-fresh-{next(_fresh)}"


@schemathesis.hook
def after_call(context, case, response):
    method = case.method.upper()
    if method == "POST" and case.path == TASKS and response.status_code == 201:
        name = _key_header(case.headers)
        if name is not None:
            try:
                _created.setdefault(case.headers[name], response.json()["id"])
            except (ValueError, KeyError, TypeError):
                pass
    elif method == "DELETE" and case.path == TASK and response.status_code == 204:
        _deleted.add(str(case.path_parameters.get("id")))
    elif method == "POST" and case.path == RESTORE and response.status_code == 200:
        _delete_again(str(case.path_parameters.get("id")))


def _delete_again(task_id):
    request = urllib.request.Request(
        f"{os.environ['API_FUZZ_BASE_URL']}/api/v1/tasks/{task_id}",
        method="DELETE",
        headers={"Authorization": f"Bearer {os.environ['API_FUZZ_TOKEN']}"},
    )
    for _ in range(10):
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                if answer.status == 204:
                    return
                raise RuntimeError(f"deleting restored task {task_id} again answered {answer.status}")
        except urllib.error.HTTPError as error:
            # The fuzz shares the user's rate limit: wait as the service says, then again.
            if error.code != 429:
                raise
            time.sleep(float(error.headers.get("Retry-After", "1")))
    raise RuntimeError(f"deleting restored task {task_id} again stayed rate limited")
