#!/usr/bin/env python3
"""What the Kubernetes deployment of prodopsd relies on, beyond the schemas."""

import glob
import os
import re
import sys

import yaml

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL: " + message)


def main(directory):
    objects = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    objects[doc["kind"]] = doc
    for kind in ("StatefulSet", "ConfigMap", "Service", "ServiceAccount"):
        check(kind in objects, "no %s" % kind)
    check("PodMonitor" in objects or "ServiceMonitor" in objects, "no PodMonitor/ServiceMonitor")
    sts = objects["StatefulSet"]
    pod = sts["spec"]["template"]
    labels = pod["metadata"]["labels"]
    check(sts["spec"]["selector"]["matchLabels"].items() <= labels.items(),
          "StatefulSet selector does not match its pod labels")
    check(sts["spec"]["serviceName"] == objects["Service"]["metadata"]["name"],
          "serviceName is not the Service")
    check(objects["Service"]["spec"]["selector"].items() <= labels.items(),
          "Service selector does not match the pods")
    monitor = objects.get("PodMonitor") or objects.get("ServiceMonitor")
    check(monitor["spec"]["selector"]["matchLabels"].items() <= labels.items(),
          "monitor selector does not match the pods")
    spec = pod["spec"]
    check(spec["securityContext"].get("runAsNonRoot") is True, "pod runAsNonRoot")
    check(spec["securityContext"].get("runAsUser", 0) != 0, "pod runAsUser must not be 0")
    [container] = [c for c in spec["containers"] if c["name"] == "prodopsd"]
    csc = container.get("securityContext", {})
    check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem: true")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    check(ports.get("metrics") == 9464, "container port metrics 9464")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in ("metrics", 9464),
              "%s must GET %s on the metrics port" % (probe, path))
    res = container.get("resources", {})
    check("requests" in res and "memory" in res.get("limits", {}), "resources requests and memory limit")
    claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    check("state" in claims and "state" in mounts, "state volumeClaimTemplate mounted")
    config = next(iter(objects["ConfigMap"]["data"].values()))
    m = re.search(r'state\s*{[^}]*dir:\s*"([^"]+)"', config)
    check(m and m.group(1) == mounts.get("state"), "config state.dir must be the state mount")
    m = re.search(r'listen_address:\s*"([^"]+)"', config)
    check(m and m.group(1) == "0.0.0.0:9464", "config must listen on 0.0.0.0:9464 in a pod")
    args = container.get("args", [])
    config_mount = mounts.get("config", "")
    check(args[:1] == ["--config"] and args[1].startswith(config_mount + "/"),
          "args --config must name a file of the config mount")
    if failures:
        sys.exit("%d problem(s)" % len(failures))
    print("check_kubernetes.py: ok")


if __name__ == "__main__":
    main(sys.argv[1])
