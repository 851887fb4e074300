"""Holds .github/workflows/neon-branch.yml to what docs/deploy.md says it does.

    python check-workflow.py .github/workflows/neon-branch.yml

A Neon branch is created per pull request with an expiry, the suite runs through
scripts/lib/postgres-suite (the steps scripts/test and scripts/neon-branch-test run) with the
branch's direct URL for migrations and its pooled URL for traffic, and the branch is deleted
whatever the suite's outcome. Exits 1 naming every part that is missing.
"""

import sys

import yaml

workflow = yaml.safe_load(open(sys.argv[1]))
# YAML reads the bare key `on` as true.
triggers = workflow.get("on", workflow.get(True, {}))
problems = []
if "pull_request" not in triggers:
    problems.append("it does not run on pull requests")
(job,) = workflow["jobs"].values()
steps = job["steps"]


def step_using(action):
    found = [s for s in steps if str(s.get("uses", "")).startswith(action + "@")]
    return found[0] if found else None


create = step_using("neondatabase/create-branch-action")
delete = step_using("neondatabase/delete-branch-action")
suite = [s for s in steps if "scripts/lib/postgres-suite" in str(s.get("run", ""))]
if not create:
    problems.append("no neondatabase/create-branch-action step")
elif not create.get("with", {}).get("expires_at"):
    problems.append("the branch has no expires_at backstop")
if not suite:
    problems.append("no step runs scripts/lib/postgres-suite")
else:
    env = suite[0].get("env", {})
    branch = create.get("id") if create else None
    if env.get("SUITE_DATABASE_URL") != f"${{{{ steps.{branch}.outputs.db_url }}}}":
        problems.append("the suite does not migrate over the branch's direct URL (db_url)")
    if env.get("SUITE_DATABASE_URL_POOLED") != f"${{{{ steps.{branch}.outputs.db_url_pooled }}}}":
        problems.append("the suite does not run over the branch's pooled URL (db_url_pooled)")
if not delete:
    problems.append("no neondatabase/delete-branch-action step")
else:
    if "always()" not in str(delete.get("if", "")):
        problems.append("the branch is not deleted when the suite fails (if: always())")
    if steps.index(delete) < steps.index(suite[0] if suite else delete):
        problems.append("the branch is deleted before the suite runs")
if problems:
    print("check-workflow: " + "\n  ".join([sys.argv[1] + ":"] + problems), file=sys.stderr)
    sys.exit(1)
