"""Holds the rendered Kubernetes manifests (deploy/kubernetes) to the service they deploy.

    python check-manifests.py RENDERED.yaml HELP.txt OPENAPI.json > facts.json

RENDERED.yaml is `kubectl kustomize` of an overlay, HELP.txt the output of `api --help` (which
lists every setting the service reads), OPENAPI.json the service's own document. Checks that
every variable the Deployment and the migration Job set is a setting of the service, that the
container port is APP_PORT, that every probe path is a route the service serves, that the
secrets are the three the README names, that the grace period covers preStop, the drain and the
shutdown, that readiness takes an instance out within the drain, and that the autoscaler and
the disruption budget point at the Deployment. Prints what scripts/deploy-check needs to run
the binary the way the Deployment and the Job run it. Exits 1 with every problem found.
"""

import json
import re
import sys

import yaml

SECRETS = {"DATABASE_URL", "DATABASE_URL_POOLED", "JWT_SECRET"}

rendered, help_path, openapi_path = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
help_text = open(help_path).read()
settings = set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", help_text.split("Settings", 1)[1]))
settings |= {"RUST_LOG"}
paths = set(json.load(open(openapi_path))["paths"])
problems = []


def one(kind):
    found = [d for d in docs if d["kind"] == kind]
    if len(found) != 1:
        problems.append(f"expected one {kind}, found {len(found)}")
        return {}
    return found[0]


def env_of(container, where):
    values, secrets = {}, {}
    for var in container.get("env", []):
        name = var["name"]
        if name not in settings:
            problems.append(f"{where}: {name} is not a setting of the service (api --help)")
        if "value" in var:
            values[name] = str(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            secrets[name] = ref["key"]
            if ref["key"] != name:
                problems.append(f"{where}: {name} comes from secret key {ref['key']}")
    return values, secrets


deployment = one("Deployment")
job = one("Job")
hpa = one("HorizontalPodAutoscaler")
pdb = one("PodDisruptionBudget")
service = one("Service")

pod = deployment["spec"]["template"]["spec"]
(container,) = pod["containers"]
env, secrets = env_of(container, "Deployment")
if set(secrets) != SECRETS:
    problems.append(f"Deployment secrets {sorted(secrets)}, expected {sorted(SECRETS)}")
port = next(p for p in container["ports"] if p["name"] == "http")["containerPort"]
if str(port) != env.get("APP_PORT"):
    problems.append(f"containerPort {port} but APP_PORT={env.get('APP_PORT')}")
if env.get("APP_HOST") != "0.0.0.0":
    problems.append("APP_HOST must be 0.0.0.0 in a pod")
probes = {}
for name in ("startupProbe", "livenessProbe", "readinessProbe"):
    probe = container.get(name)
    if not probe:
        problems.append(f"no {name}")
        continue
    path = probe["httpGet"]["path"]
    if path not in paths:
        problems.append(f"{name} path {path} is not a route of the service")
    if probe["httpGet"]["port"] not in ("http", port):
        problems.append(f"{name} probes port {probe['httpGet']['port']}")
    probes[name] = probe
if probes.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/health/live":
    problems.append("liveness must be /health/live, which never touches the database")
if probes.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/health/ready":
    problems.append("readiness must be /health/ready")

drain = float(env.get("DRAIN_DELAY", 5))
shutdown = float(env.get("SHUTDOWN_TIMEOUT", 30))
pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
grace = pod.get("terminationGracePeriodSeconds", 30)
if grace < pre_stop + drain + shutdown:
    problems.append(f"terminationGracePeriodSeconds {grace} < preStop {pre_stop} + DRAIN_DELAY {drain} + SHUTDOWN_TIMEOUT {shutdown}")
readiness = probes.get("readinessProbe", {})
out_after = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
if out_after > pre_stop + drain:
    problems.append(f"readiness takes an instance out after {out_after} s, past preStop + DRAIN_DELAY ({pre_stop + drain} s)")
if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
    problems.append("the pod must run as non-root")
if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
    problems.append("the root filesystem should be read-only: the service writes nothing to disk")
if "cpu" in container.get("resources", {}).get("limits", {}):
    problems.append("a CPU limit throttles the service into latency; request CPU instead")

job_pod = job.get("spec", {}).get("template", {}).get("spec", {})
(job_container,) = job_pod.get("containers", [{}])
job_env, job_secrets = env_of(job_container, "Job")
if job_container.get("args") != ["migrate", "up"]:
    problems.append(f"the Job runs {job_container.get('args')}, not migrate up")
if job_secrets.get("DATABASE_URL") != "DATABASE_URL" or "DATABASE_URL_POOLED" in job_secrets:
    problems.append("the migration Job must use the direct DATABASE_URL only")
if job_container.get("image") != container.get("image"):
    problems.append("the Job and the Deployment run different images")

if hpa.get("spec", {}).get("scaleTargetRef", {}).get("name") != deployment["metadata"]["name"]:
    problems.append("the autoscaler does not scale the Deployment")
if "replicas" in deployment["spec"]:
    problems.append("the Deployment sets replicas, which every apply would reset under the autoscaler")
labels = deployment["spec"]["template"]["metadata"]["labels"]
for name, selector in (("PodDisruptionBudget", pdb["spec"]["selector"]["matchLabels"]), ("Service", service["spec"]["selector"])):
    if any(labels.get(k) != v for k, v in selector.items()):
        problems.append(f"the {name} selects {selector}, not the Deployment's pods {labels}")
if service["spec"]["ports"][0]["targetPort"] not in ("http", port):
    problems.append("the Service does not target the container port")

if problems:
    print("check-manifests: " + "\n  ".join(["the manifests disagree with the service:"] + problems), file=sys.stderr)
    sys.exit(1)
json.dump(
    {
        "env": env,
        "job_env": job_env,
        "probes": {k: v["httpGet"]["path"] for k, v in probes.items()},
        "port": port,
        "drain": drain,
        "shutdown": shutdown,
        "grace": grace,
    },
    sys.stdout,
)
