#!/usr/bin/env python3
"""Templates every Helm release kgen renders with the real Helm engine and checks the result.

usage: helm_releases.py SHARED_DIR PYTHON TREE... [--sizes FILE]

For every environment under each TREE (a folder of `kgen render` outputs, each with kgen.lock.json):
every release of the lock is rendered offline by ../shared/tools/helm_render.py from its pinned
chart source under SHARED_DIR/upstream/charts with the environment's values file, as the engine
would (Helm's values schema check included, skipped only where kgen skips it: catalog
`brokenValuesSchemas`). Then
  * rendering must succeed;
  * every object rendered must pass the Kubernetes and CRD schemas (crd_validate.py --strict
    --require-schema; CRDs from SHARED_DIR/upstream and from the environment's own CRD charts);
  * where the engine stores a Helm release record (a Flux HelmRelease, an `install.sh`
    `helm upgrade --install`; Argo CD renders with `helm template` and stores none), the record
    must be under the 1,048,576-byte Secret limit (helm_render.py --record-size);
  * install.sh does not `helm --wait` on a release that renders a `type: LoadBalancer` Service.
Which releases store a record is read from the rendered files themselves, not from kgen.
A release whose chart version is not in SHARED_DIR/upstream/charts cannot be rendered offline:
it is listed by name (and fails the run), never skipped silently. The one exception is
NOT_VENDORED below: charts ../shared does not hold at all, whose values kgen's authors checked
by hand against the upstream tag; they are listed by name as not checked by CI.
--sizes FILE writes every measured record size as JSON (for catalog `helmReleaseRecords`).
Exit 1 if any check fails."""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import yaml  # PyYAML, from the tools' requirements

args = sys.argv[1:]
sizes_out = None
if "--sizes" in args:
    i = args.index("--sizes")
    sizes_out = args[i + 1]
    del args[i : i + 2]
shared, python, *trees = args
up = os.path.join(shared, "upstream")
tools = os.path.join(shared, "tools")
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "catalog", "catalog.yaml"), encoding="utf-8") as fh:
    catalog = yaml.safe_load(fh)
broken = {(b["release"], b["version"]) for b in catalog.get("brokenValuesSchemas") or []}

# Where ../shared/upstream/charts keeps a chart: charts/<project>/<version>/<folder>. The
# project follows the catalog's repository name; folders are the upstream folder names
# (../shared/upstream/SOURCES.md: Istio's `cni` chart lives in `istio-cni`, KServe's chart
# `kserve` of v0.14.1-v0.16.0 in `kserve-resources`; knative-operator versions are
# `knative-<version>`, keda ones `v<version>`).
PROJECTS = {"jetstack": "cert-manager", "istio": "istio", "knative-operator": "knative-operator",
            "envoyproxy": "envoy-gateway", "kserve": "kserve", "kedacore": "keda", "lws": "lws"}
# Charts ../shared/upstream/charts does not vendor at any version (Envoy AI Gateway, which `llm`
# installs beside Envoy Gateway): kgen's values for them were read against
# envoyproxy/ai-gateway@v0.5.0, v0.6.0 and v1.0.0 manifests/charts/ai-gateway-helm/values.yaml
# (controller.mutatingWebhook.certManager.enable, envoyGateway.namespace) by hand. Printed as
# not checked, not failed.
# The OpenTelemetry operator and KEDA's OTel add-on (`autoscaling.openTelemetry`) likewise: read
# against open-telemetry/opentelemetry-helm-charts@opentelemetry-operator-0.74.3 and
# kedify/otel-add-on@a17b15e (the v0.0.6 chart).
NOT_VENDORED = {"ai-gateway-helm", "ai-gateway-crds-helm", "opentelemetry-operator", "otel-add-on"}
FOLDERS = {"cni": "istio-cni", "kserve": "kserve-resources"}
# KEDA's chart versions have no `v`; its source folders carry one (charts/keda/v2.18.0/keda).
VERSION_DIRS = {"knative-operator": "knative-{}", "keda": "v{}"}


def chart_dir(release):
    repo_name = catalog["charts"][release["name"]]["repoName"]
    project = PROJECTS.get(repo_name)
    if project is None:
        return None
    version = VERSION_DIRS.get(project, "{}").format(release["version"])
    d = os.path.join(up, "charts", project, version, FOLDERS.get(release["chart"], release["chart"]))
    return d if os.path.isfile(os.path.join(d, "Chart.yaml")) else None


def record_keepers(env_dir, engine):
    """Names of the releases the engine installs as Helm releases (so stores a record for)."""
    names = set()
    if engine == "flux":
        for f in glob.glob(os.path.join(env_dir, "flux", "releases", "*", "helmrelease-*.yaml")):
            with open(f, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
            names.add(doc["spec"].get("releaseName") or doc["metadata"]["name"])
    elif engine == "none":
        with open(os.path.join(env_dir, "install.sh"), encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^helm upgrade --install (\S+) ", line)
                if m:
                    names.add(m.group(1))
    return names


def script_waits(env_dir):
    """install.sh: release name -> whether its `helm upgrade --install` line waits (--wait)."""
    out = {}
    path = os.path.join(env_dir, "install.sh")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^helm upgrade --install (\S+) ", line)
                if m:
                    out[m.group(1)] = line.rstrip().endswith(" --wait")
    return out


def load_balancers(rendered_file):
    """Names of the `type: LoadBalancer` Services in a helm_render.py output."""
    with open(rendered_file, encoding="utf-8") as fh:
        text = fh.read()
    found = []
    # Only Services matter; other documents may hold what PyYAML reads differently from Go's
    # reader (tabs in knative-operator's ConfigMaps), so each document is read on its own.
    for chunk in re.split(r"(?m)^---\s*$", text):
        if not re.search(r"(?m)^kind:\s*Service\s*$", chunk):
            continue
        d = yaml.safe_load(chunk)
        if isinstance(d, dict) and (d.get("spec") or {}).get("type") == "LoadBalancer":
            found.append(d["metadata"]["name"])
    return found


_cert_manager_crds = None


def cert_manager_crds():
    """cert-manager's CRDs, rendered from the newest cert-manager chart under upstream/charts, for
    environments whose cert-manager comes from elsewhere (OpenShift's operator): the KServe chart
    renders cert-manager Issuers and Certificates."""
    global _cert_manager_crds
    if _cert_manager_crds is None:
        base = os.path.join(up, "charts", "cert-manager")
        newest = sorted(os.listdir(base), key=lambda v: [int(x) for x in v.lstrip("v").split(".")])[-1]
        values = os.path.join(work, "cert-manager-crds-values.yaml")
        with open(values, "w", encoding="utf-8") as fh:
            fh.write("crds:\n  enabled: true\n")
        _cert_manager_crds = os.path.join(work, "cert-manager-crds.yaml")
        subprocess.run([python, os.path.join(tools, "helm_render.py"), "--out", _cert_manager_crds,
                        os.path.join(base, newest, "cert-manager"), values], check=True, capture_output=True)
        print(f"note: cert-manager.io schemas for environments without the cert-manager chart: cert-manager {newest} CRDs")
    return _cert_manager_crds


RECORD = re.compile(r"release record (\d+) bytes")
failures = []
unrendered = []
notes = []
sizes = {}
rendered_count = 0
start = time.time()
work = tempfile.mkdtemp(prefix="kgen-helm-releases-")
jobs = max(2, os.cpu_count() or 2)


def render(job):
    """One helm_render.py run; returns its result with the job."""
    return job, subprocess.run(job["cmd"], capture_output=True, text=True)


# Every environment of every tree: its releases as jobs.
envs = []
for tree in trees:
    for env in sorted(os.listdir(tree)):
        env_dir = os.path.join(tree, env)
        lock_path = os.path.join(env_dir, "kgen.lock.json")
        if not os.path.isfile(lock_path):
            continue
        with open(lock_path, encoding="utf-8") as fh:
            lock = json.load(fh)
        engine = lock["gitops"]["engine"]
        keepers = record_keepers(env_dir, engine)
        out_dir = os.path.join(work, f"{len(envs)}-{env}")
        os.makedirs(out_dir)
        e = {"name": env, "dir": env_dir, "lock": lock, "engine": engine, "waits": script_waits(env_dir),
             "jobs": []}
        for rel in lock["releases"]:
            label = f"{env}/{rel['name']} ({rel['chart']} {rel['version']})"
            d = chart_dir(rel)
            if d is None and rel["chart"] in NOT_VENDORED:
                notes.append(f"{label}: chart not vendored in {up}/charts, NOT CHECKED by CI (values read by hand)")
                continue
            if d is None:
                unrendered.append(label)
                continue
            out = os.path.join(out_dir, rel["name"] + ".yaml")
            cmd = [python, os.path.join(tools, "helm_render.py"), "--release", rel["name"], "--namespace",
                   rel["namespace"], "--out", out]
            stores = rel["name"] in keepers
            if stores:
                cmd.append("--record-size")
            if (rel["name"], rel["version"]) in broken:
                cmd.append("--skip-schema")
            cmd += [d, os.path.join(env_dir, "values", rel["name"] + ".yaml")]
            e["jobs"].append({"label": label, "rel": rel, "out": out, "stores": stores, "cmd": cmd})
        envs.append(e)

with ThreadPoolExecutor(max_workers=jobs) as pool:
    results = dict((id(j), r) for j, r in pool.map(render, [j for e in envs for j in e["jobs"]]))


# Kinds a chart renders for its platform whose CRD the platform itself serves, and of which
# ../shared/upstream has no schema: Istio's CNI chart renders Multus' NetworkAttachmentDefinition
# on OpenShift (1.24+, files/profile-platform-openshift.yaml). They are taken out before the
# schema check and listed by name; anything else without a schema still fails.
PLATFORM_KINDS = {("k8s.cni.cncf.io", "NetworkAttachmentDefinition"): "Multus (OpenShift)"}


def without_platform_kinds(e, out):
    """The rendered file `out` without PLATFORM_KINDS objects (a copy when there are any).

    Split on document markers, not parsed: PyYAML refuses what Helm's Go YAML reader accepts (a
    tab in the Knative operator's manifests), and every other file must reach crd_validate.py
    byte for byte."""
    with open(out, encoding="utf-8") as fh:
        text = fh.read()
    if not any(kind in text for _, kind in PLATFORM_KINDS):
        return out
    keep, dropped = [], []
    for doc in re.split(r"(?m)^---[ \t]*$", text):
        api = re.search(r"(?m)^apiVersion:[ \t]*['\"]?([^'\"\s]+)", doc)
        kind = re.search(r"(?m)^kind:[ \t]*['\"]?([^'\"\s]+)", doc)
        name = re.search(r"(?m)^  name:[ \t]*['\"]?([^'\"\s]+)", doc)
        who = api and kind and PLATFORM_KINDS.get((api.group(1).rpartition("/")[0], kind.group(1)))
        if who:
            dropped.append(f"{kind.group(1)} {name.group(1) if name else '?'} ({who})")
        else:
            keep.append(doc)
    if not dropped:
        return out
    notes.extend(f"{e['name']}: {x}: no schema in ../shared/upstream, not schema-checked" for x in dropped)
    copy = out + ".checked.yaml"
    with open(copy, "w", encoding="utf-8") as fh:
        fh.write("---".join(keep))
    return copy




# CRD bundles a render applies from Git whose files ../shared vendors: the llmisvc CRDs Argo CD
# applies from kserve/kserve charts/kserve-llmisvc-crd/templates at the KServe tag (catalog
# `crdSources.llmisvc`) are the vendored chart's files. Their schemas check the presets the
# runtimes chart renders, and a missing file fails the run (the Git path must hold them).
def crd_source_files(src):
    if src["repo"] == "https://github.com/kserve/kserve" and src["path"].startswith("charts/"):
        chart = src["path"].split("/")[1]
        files = sorted(glob.glob(os.path.join(up, "charts", "kserve", src["tag"], chart, "templates",
                                              catalog["crdSources"][src["name"]].get("include", "*.yaml"))))
        if not files:
            failures.append(f"CRD source {src['name']} at {src['tag']}: no files under {chart}/templates")
        return files
    return []


def validate(e):
    """crd_validate.py over an environment's rendered releases."""
    outputs = [without_platform_kinds(e, o) for o in e["outputs"]]
    # The environment's own CRD charts (kserve-crd, cert-manager, istio-base, …) provide the
    # schemas of the custom resources its other charts render; upstream/ the rest.
    extra = [] if any(r["name"] == "cert-manager" for r in e["lock"]["releases"]) else ["--crd", cert_manager_crds()]
    extra += [a for src in e["lock"].get("crdSources", []) for f in crd_source_files(src) for a in ("--crd", f)]
    return e, subprocess.run([python, os.path.join(tools, "crd_validate.py"), "--strict", "--require-schema",
                              "--quiet", "--crd", up, *extra, *[a for o in outputs for a in ("--crd", o)],
                              *outputs], capture_output=True, text=True)


for e in envs:
    e["outputs"] = []
    for job in e["jobs"]:
        label, rel, out, stores = job["label"], job["rel"], job["out"], job["stores"]
        r = results[id(job)]
        line = (r.stdout.strip().splitlines() or [""])[-1]
        m = RECORD.search(line)
        if m:
            sizes.setdefault(rel["name"], {})[rel["version"]] = max(
                int(m.group(1)), sizes.get(rel["name"], {}).get(rel["version"], 0))
        if r.returncode == 4:
            failures.append(f"{label}: {e['engine']} stores its release record, over the 1 MiB limit: {line}")
        elif r.returncode != 0:
            failures.append(f"{label}: helm template failed: {(r.stderr or r.stdout).strip()[:2000]}")
            continue
        rendered_count += 1
        e["outputs"].append(out)
        # install.sh: `helm --wait` waits for a LoadBalancer's address, which never comes on a
        # cluster without one (what real Helm renders decides, values included).
        lbs = load_balancers(out)
        if lbs and e["waits"].get(rel["name"]):
            failures.append(f"{label}: install.sh waits (--wait) on a release with LoadBalancer Service(s) {lbs}")
        note = f"; {line.split('; ')[-1]}" if stores else f" (no record: {e['engine']} does not install it as a Helm release)"
        print(f"{label}: {line.split(' from ')[0]}{note}")

if any(not any(r["name"] == "cert-manager" for r in e["lock"]["releases"]) for e in envs if e["outputs"]):
    cert_manager_crds()  # once, before the threads
with ThreadPoolExecutor(max_workers=jobs) as pool:
    for e, r in pool.map(validate, [e for e in envs if e["outputs"]]):
        summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()
        print(f"{e['name']}: schemas of {len(e['outputs'])} rendered releases: {summary}")
        if r.returncode != 0:
            failures.append(f"{e['name']}: rendered objects fail the schemas:\n{r.stdout.strip()}{r.stderr.strip()}")

if sizes_out:
    with open(sizes_out, "w", encoding="utf-8") as fh:
        json.dump(sizes, fh, indent=1, sort_keys=True)
for n in sorted(notes):
    print(f"note: {n}")
print(f"helm releases: {rendered_count} rendered with real Helm in {time.time() - start:.0f}s, "
      f"{len(failures)} failure(s)")
for u in unrendered:
    print(f"helm releases: CANNOT RENDER OFFLINE (no chart source under {up}/charts): {u}")
for f in failures:
    print(f"FAIL {f}")
sys.exit(1 if failures or unrendered else 0)
