#!/usr/bin/env python3
"""Checks every rendered values file against its chart's own data of the pinned version, using
the conformance tools of ../shared/tools: values_keys_check.py (every key exists in the chart's
values.yaml) and check-jsonschema (the chart's values.schema.json, where the chart has one).

usage: check_values.py SHARED_DIR VENV_BIN RENDERED_DIR
Which chart and version each values file belongs to is read from each kgen.lock.json, so this
script knows nothing about versions itself. Exit 1 if any check fails."""
import json
import os
import subprocess
import sys

shared, venv_bin, rendered = sys.argv[1:4]
up = os.path.join(shared, "upstream")


def chart_dir(release, chart, version):
    """Where ../shared/upstream keeps a chart's data for a version (None: not there)."""
    if release == "cert-manager":
        return os.path.join(up, "cert-manager", version)
    if release in ("istio-base", "istiod", "istio-ingressgateway"):
        sub = {"istio-base": "base", "istiod": "istiod", "istio-ingressgateway": "gateway"}[release]
        return os.path.join(up, "istio", version, sub)
    if release == "kserve":  # chart `kserve` (<= v0.16) and `kserve-resources` share the folder
        return os.path.join(up, "kserve", version, "charts", "kserve-resources")
    if release in ("kserve-crd", "kserve-runtime-configs"):
        return os.path.join(up, "kserve", version, "charts", release)
    if release == "envoy-gateway":
        return os.path.join(up, "envoy-gateway", version)
    if release == "keda":  # the complete chart source (charts/keda/v<version>/keda)
        return os.path.join(up, "charts", "keda", "v" + version, "keda")
    if release.startswith(("kserve-llmisvc", "kserve-localmodel")):  # complete chart sources
        return os.path.join(up, "charts", "kserve", version, chart)
    if release == "lws":
        return os.path.join(up, "charts", "lws", version, "lws")
    return None


# Free-form maps a chart passes through whole, whose keys no values.yaml lists: Envoy Gateway's
# `config.envoyGateway` is the EnvoyGateway configuration itself ("Visit
# https://gateway.envoyproxy.io/docs/api/extension_types/#envoygateway to view all options",
# values.yaml; templates/envoy-gateway-config.yaml merges it into the ConfigMap). `llm` sets its
# `extensionManager` and `extensionApis` there, copied from envoyproxy/ai-gateway's values files.
OPEN_MAPS = {"envoy-gateway": ["config.envoyGateway"]}


def helm_reading(schema):
    """Some Istio gateway schemas (1.23.x, 1.27.0) put `additionalProperties: false` beside a
    root `$ref` under the unversioned `http://json-schema.org/schema#`. Helm up to 3.18.4 (KServe
    pins 3.16.3) reads that as draft-07, where siblings of `$ref` are ignored; newer Helm rejects
    every key (istio/istio#57354), which kgen's catalog records for Argo CD's
    skipSchemaValidation. Validate such schemas the way the pinned Helm reads them."""
    with open(schema, encoding="utf-8") as fh:
        s = json.load(fh)
    if s.get("$ref") and s.get("additionalProperties") is False and "properties" not in s:
        s["$schema"] = "http://json-schema.org/draft-07/schema#"
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kgen-helm-reading-" + schema.replace("/", "_"))
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(s, fh)
        print(f"note: {schema}: root additionalProperties beside $ref; validated as Helm 3.16 (draft-07) reads it")
        return out
    return schema


def load_yaml(path):
    import yaml  # PyYAML, from the tools' requirements

    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def subcharts(d):
    """Names (or aliases) of the chart's dependencies, from its Chart.yaml."""
    path = os.path.join(d, "Chart.yaml")
    if not os.path.isfile(path):
        return []
    chart = load_yaml(path)
    return [dep.get("alias") or dep["name"] for dep in chart.get("dependencies") or []]


def template_read_keys(release, chart, version):
    """Top-level values keys the chart's own templates read (`.Values.x`, `($.Values).x`), from
    its complete source under ../shared/upstream/charts. Istio's `profile`, `platform` and
    `compatibilityVersion` are read by templates/zzz_profile.yaml and declared in no
    values.yaml: such a key is not a typo, and the real-Helm stage renders it."""
    import glob
    import re

    project = {"cert-manager": "cert-manager", "envoy-gateway": "envoy-gateway", "keda": "keda"}.get(release)
    if release.startswith("istio"):
        project = "istio"
    elif release.startswith("kserve"):
        project = "kserve"
    if not project:
        return set()
    keys = set()
    folder = "v" + version if project == "keda" else version  # KEDA's folders carry a `v`
    for tdir in glob.glob(os.path.join(up, "charts", project, folder, "*", "templates")):
        if os.path.basename(os.path.dirname(tdir)) not in (chart, release):
            continue
        for path in glob.glob(os.path.join(tdir, "**", "*"), recursive=True):
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as fh:
                    keys |= set(re.findall(r"\.Values\)?\.([A-Za-z_][A-Za-z0-9_]*)", fh.read()))
    return keys


failures = 0
checked = 0
skipped = []
notes = []
for env in sorted(os.listdir(rendered)):
    lock_path = os.path.join(rendered, env, "kgen.lock.json")
    if not os.path.isfile(lock_path):
        continue
    with open(lock_path, encoding="utf-8") as fh:
        lock = json.load(fh)
    for rel in lock["releases"]:
        values = os.path.join(rendered, env, "values", rel["name"] + ".yaml")
        d = chart_dir(rel["name"], rel["chart"], rel["version"])
        defaults = None
        if d:
            for name in ("values.yaml", "values.tmpl.yaml"):
                if os.path.isfile(os.path.join(d, name)):
                    defaults = os.path.join(d, name)
                    break
        if not defaults:
            skipped.append(f"{env}/{rel['name']} ({rel['chart']} {rel['version']})")
            continue
        checked += 1
        # Values under a dependency's name go to that subchart (Helm), whose values.yaml
        # ../shared/upstream does not have, and values_keys_check.py knows only the parent's:
        # the parent's keys are checked in a copy without the subchart's map.
        keyed = values
        declared = dict(load_yaml(defaults))
        # Istio keeps its defaults under a prefix (catalog istioValuesLayouts); users set the
        # keys without it, and values_keys_check.py reads them so.
        for prefix in ("defaults", "_internal_defaults_do_not_set"):
            if isinstance(declared.get(prefix), dict):
                declared.update(declared[prefix])
        deps = [dep for dep in subcharts(d) if dep not in declared]
        data = load_yaml(values)
        read = template_read_keys(rel["name"], rel["chart"], rel["version"])
        undeclared = [k for k in data if k not in declared and k in read]
        if any(dep in data for dep in deps) or undeclared:
            import yaml

            keyed = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"kgen-parent-keys-{env}-{rel['name']}.yaml")
            with open(keyed, "w", encoding="utf-8") as fh:
                yaml.safe_dump({k: v for k, v in data.items() if k not in deps and k not in undeclared}, fh)
            for dep in deps:
                if dep in data:
                    notes.append(f"{env}/{rel['name']}: values of subchart `{dep}` ({d}/Chart.yaml) not key-checked")
            for k in undeclared:
                notes.append(f"{env}/{rel['name']}: `{k}` is read by the chart's templates, not declared in its values.yaml")
        opened = [a for m in OPEN_MAPS.get(rel["name"], []) for a in ("--open", m)]
        r = subprocess.run([sys.executable, os.path.join(shared, "tools", "values_keys_check.py"), *opened, defaults, keyed])
        if r.returncode != 0:
            failures += 1
            print(f"FAIL keys   {values} against {defaults}")
        schema = os.path.join(d, "values.schema.json")
        if os.path.isfile(schema):
            schema = helm_reading(schema)
            r = subprocess.run([os.path.join(venv_bin, "check-jsonschema"), "--schemafile", schema, values])
            if r.returncode != 0:
                failures += 1
                print(f"FAIL schema {values} against {schema}")
print(f"values: {checked} files checked, {failures} failure(s)")
for n in sorted(set(notes)):
    print(f"values: {n}")
for s in skipped:
    print(f"values: no upstream values.yaml for {s}; not checked")
sys.exit(1 if failures else 0)
