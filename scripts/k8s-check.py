#!/usr/bin/env python3
"""Checks deploy/kubernetes offline: every manifest against the Kubernetes schemas (kubernetes-validate, strict), the
ServiceMonitor's shape (a CRD: no schema ships with kubernetes-validate), and the agent config inside the ConfigMaps
with `netpoller check` (the Secret's file written where the config names it, under a temporary root).

usage: k8s-check.py NETPOLLER_BINARY   (run with the deploy venv's python)"""
import glob, os, subprocess, sys, tempfile

import kubernetes_validate
import yaml

root = os.environ.get("K8S_ROOT") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "kubernetes")
binary = sys.argv[1]
failures = 0
kinds = []
documents = []
for path in sorted(glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True)):
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        documents.append(doc)
        kind = doc.get("kind")
        if kind in ("ServiceMonitor", "Kustomization"):
            continue
        try:
            kubernetes_validate.validate(doc, "1.30", strict=True)
            kinds.append(kind)
            print(f"ok {os.path.relpath(path, root)} {kind}/{doc['metadata']['name']}")
        except kubernetes_validate.ValidationError as e:
            failures += 1
            print(f"FAIL {os.path.relpath(path, root)} {kind}: {e.message} at {list(e.path)}")

for doc in documents:
    if doc.get("kind") == "ServiceMonitor":
        eps = doc.get("spec", {}).get("endpoints", [])
        ok = doc.get("apiVersion") == "monitoring.coreos.com/v1" and eps and all("port" in e for e in eps) \
            and doc["spec"].get("selector", {}).get("matchLabels")
        print(("ok" if ok else "FAIL") + " servicemonitor.yaml ServiceMonitor (shape)")
        failures += 0 if ok else 1
    if doc.get("kind") == "Kustomization":
        listed = set(doc.get("resources", []))
        present = {os.path.basename(p) for p in glob.glob(os.path.join(root, "*.yaml"))} - {"kustomization.yaml"}
        ok = listed == present
        print(("ok" if ok else "FAIL") + f" kustomization.yaml lists every manifest ({sorted(listed)})")
        failures += 0 if ok else 1

# The config the pods run, checked by the agent itself.
maps = {d["metadata"]["name"]: d["data"] for d in documents if d.get("kind") == "ConfigMap"}
with tempfile.TemporaryDirectory() as tmp:
    def place(text):
        text = text.replace("/run/secrets/netpoller", os.path.join(tmp, "secrets"))
        return text.replace('"/var/lib/netpoller"', '"' + os.path.join(tmp, "state") + '"')
    os.makedirs(os.path.join(tmp, "secrets"))
    with open(os.path.join(tmp, "secrets", "snmp-community"), "w") as f:
        f.write("change-me\n")
    for shard, files in [("single", {"devices.conf": maps["netpoller-config"]["devices.conf"]})] + [
        (k[:-5], {"devices.conf": v}) for k, v in maps.get("netpoller-shards", {}).items()
    ]:
        conf_d = os.path.join(tmp, shard)
        os.makedirs(conf_d)
        with open(os.path.join(tmp, "agent.conf"), "w") as f:
            f.write(place(maps["netpoller-config"]["agent.conf"]))
        for name, text in files.items():
            with open(os.path.join(conf_d, name), "w") as f:
                f.write(place(text))
        r = subprocess.run([binary, "check", "--config", os.path.join(tmp, "agent.conf"), "--config-dir", conf_d],
                           capture_output=True, text=True)
        print(("ok" if r.returncode == 0 else "FAIL") + f" netpoller check ({shard}): exit {r.returncode}")
        if r.returncode != 0:
            print(r.stdout + r.stderr)
            failures += 1
for kind in ("ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service", "StatefulSet"):
    if kind not in kinds:
        print(f"FAIL no {kind} validated")
        failures += 1
print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
