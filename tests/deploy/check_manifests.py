#!/usr/bin/python3
"""Checks the invariants of rendered Raceway Kubernetes manifests.

Usage:
  check_manifests.py --config-source libs/service/config.cc RENDERED.yaml...
  check_manifests.py --config-source ... --self-test RENDERED.yaml...
  check_manifests.py --config-source ... --rules prometheus-rules.yaml \
      --kustomization deploy/k8s/base/kustomization.yaml

RENDERED.yaml is the output of `kubectl kustomize deploy/k8s/overlays/X`.
Every violation is printed as "FAIL <object>: <what>"; the exit status is 1
when there is any. --self-test first requires the input to pass, then
applies known violations to copies of it (a probe removed, a port drifted,
...) and fails unless the checker reports every one of them.

Invariants (ARCHITECTURE §9, issue 8):
  * every container: resources.requests and .limits for cpu and memory;
    long-running ones (Deployment, StatefulSet) liveness + readiness probes;
    runAsNonRoot, not uid 0, readOnlyRootFilesystem,
    allowPrivilegeEscalation false, capabilities drop ALL, seccomp
    RuntimeDefault; an explicit image tag that is not "latest".
  * Raceway containers (command raceway-ingest | raceway-query | raceway):
    one image for all of them (Deployments, migrations Job, retention
    CronJob); a --config file that is mounted from a rendered ConfigMap and
    parses as TOML with only keys known to libs/service/config.cc; RACEWAY_*
    environment names that map to known keys (the binaries silently ignore
    others); credentials (connection strings, API keys) only from
    secretKeyRef; a shared database backend; auto_migrate off in the
    services; every listen address of the effective config (file, then env,
    then flags) reachable (not loopback) and equal to the containerPort of
    the same name, and vice versa; native gRPC probes on the gRPC port;
    Prometheus scrape annotations on the metrics port; preStop sleep and
    terminationGracePeriodSeconds > ingest.shutdown_grace_seconds + preStop;
    the ingest memory limit above ingest.max_buffered_bytes + 256 MiB.
  * the migrations Job runs `raceway migrate up` with backoffLimit and
    ttlSecondsAfterFinished, and it and everything it needs carry the label
    raceway/phase=pre-rollout; the retention CronJob's --hours equals
    storage.retention_hours.
  * every Service selects pods and each targetPort is a containerPort of
    them (for Raceway pods: a configured listen port).
  * every HPA's scaleTargetRef names a rendered Deployment, which then has
    no spec.replicas; min <= max; a CPU metric. Every PDB selects pods.
  * every pod is selected by an Ingress NetworkPolicy; any rule that could
    admit a dashboard pod (app.kubernetes.io/component=dashboard, or any
    pod when the peer does not exclude that label) opens exactly the query
    pods' gRPC-Web port, and one such rule exists.
  * common label app.kubernetes.io/part-of=raceway on every object.
"""

import argparse
import base64
import copy
import os
import re
import sys
import tomllib
import urllib.parse

import yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
BINARIES = {"raceway-ingest": "ingest", "raceway-query": "query", "raceway": "cli"}
# containerPort name -> config key of its listen address, per service binary.
PORTS = {
    "ingest": {"grpc": "ingest.listen", "http": "ingest.http_listen",
               "metrics": "metrics.ingest_listen"},
    "query": {"grpc": "query.listen", "grpc-web": "query.grpc_web_listen",
              "metrics": "metrics.query_listen"},
}
# Defaults of libs/service/config.h for the keys this checker reads.
DEFAULTS = {
    "storage.backend": "sqlite",
    "storage.retention_hours": 168,
    "ingest.listen": "127.0.0.1:50051",
    "ingest.http_listen": "127.0.0.1:8080",
    "ingest.max_buffered_bytes": 256 << 20,
    "ingest.shutdown_grace_seconds": 25,
    "query.listen": "127.0.0.1:50052",
    "query.grpc_web_listen": "127.0.0.1:8081",
    "metrics.ingest_listen": "127.0.0.1:9091",
    "metrics.query_listen": "127.0.0.1:9092",
}
CREDENTIAL_KEYS = {
    "storage.postgres.connection_string", "storage.postgres.replica_connection_string",
    "storage.mysql.connection_string", "storage.mysql.replica_connection_string",
    "auth.ingest_keys", "auth.query_keys",
}
SHARED_BACKENDS = {"postgres", "supabase", "mysql"}
PHASE_LABEL = "raceway/phase"
PHASE_VALUE = "pre-rollout"
PART_OF = ("app.kubernetes.io/part-of", "raceway")
COMPONENT = "app.kubernetes.io/component"
DASHBOARD = "dashboard"
MEMORY_HEADROOM = 256 << 20
SECRET = object()  # Marker: value comes from a Secret.


# ----------------------------------------------------------------- helpers

def known_config_keys(config_cc):
    """The keys of raceway.toml, read from the Fields() table of config.cc."""
    text = open(config_cc, encoding="utf-8").read()
    keys = set(re.findall(r'\b(?:str|u32|u64|boolean|list)\(\s*"([a-z_.]+)"', text))
    keys |= set(re.findall(r'\(\*m\)\["([a-z_.]+)"\]', text))
    for suffix in re.findall(r'\b(?:str|u32|u64|boolean|list)\(\s*p \+ "([a-z_]+)"', text):
        for dialect in ("postgres", "mysql"):
            keys.add(f"storage.{dialect}.{suffix}")
    required = {"ingest.listen", "query.grpc_web_listen", "storage.postgres.connection_string",
                "auth.ingest_keys", "metrics.ingest_listen"}
    if not required <= keys:
        sys.exit(f"check_manifests: could not read the config keys from {config_cc} "
                 f"(missing {sorted(required - keys)}); update known_config_keys()")
    return keys


def env_name(key):
    return "RACEWAY_" + key.replace(".", "_").upper()


def flatten(table, prefix=""):
    out = {}
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def quantity(q):
    """Kubernetes quantity -> float (bytes or cores)."""
    s = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6,
             "G": 1e9, "T": 1e12, "m": 1e-3}
    for u, f in units.items():
        if s.endswith(u):
            return float(s[: -len(u)]) * f
    return float(s)


def listen_port(value):
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def image_parts(image):
    """(repository, tag-or-digest) of an image reference."""
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, "@" + digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, ""


def labels_of(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def selector_matches(selector, labels):
    """A LabelSelector (or a plain map, as in Services) against labels."""
    if selector is None:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def may_admit_dashboard(peer):
    """Whether a NetworkPolicy peer could match a dashboard pod: one labelled
    component=dashboard that may carry any other label."""
    if "ipBlock" in peer:
        return True  # Some CNIs apply ipBlocks to pod IPs as well.
    sel = peer.get("podSelector")
    if sel is None:
        return True  # Namespace-only peer: every pod of those namespaces.
    want = (sel.get("matchLabels") or {}).get(COMPONENT)
    if want is not None and want != DASHBOARD:
        return False
    for e in sel.get("matchExpressions") or []:
        if e["key"] != COMPONENT:
            continue
        vals = e.get("values") or []
        if e["operator"] == "In" and DASHBOARD not in vals:
            return False
        if e["operator"] == "NotIn" and DASHBOARD in vals:
            return False
        if e["operator"] == "DoesNotExist":
            return False
    return True


def command_of(container):
    return list(container.get("command") or []) + list(container.get("args") or [])


def binary_of(container):
    cmd = command_of(container)
    return BINARIES.get(os.path.basename(cmd[0])) if cmd else None


def prestop_seconds(container):
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre:
        return int(pre["sleep"].get("seconds", 0))
    cmd = (pre.get("exec") or {}).get("command") or []
    if cmd and os.path.basename(cmd[0]) == "sleep" and len(cmd) == 2:
        return int(float(cmd[1]))
    return None


# ----------------------------------------------------------------- checker

class Checker:
    def __init__(self, docs, keys):
        self.docs = docs
        self.keys = keys
        self.errors = []
        self.checks = 0
        self.external_secrets = {}
        self.by_kind = {}
        for d in docs:
            self.by_kind.setdefault(d.get("kind"), []).append(d)
        self.configmaps = {d["metadata"]["name"]: d for d in self.by_kind.get("ConfigMap", [])}
        self.secrets = {d["metadata"]["name"]: d for d in self.by_kind.get("Secret", [])}
        # (workload object, pod template) for every workload.
        self.pods = []
        for d in docs:
            if d.get("kind") in WORKLOAD_KINDS:
                tmpl = d["spec"]["template"] if d["kind"] != "CronJob" else \
                    d["spec"]["jobTemplate"]["spec"]["template"]
                self.pods.append((d, tmpl))
        self.raceway_images = {}  # image -> [where]
        self.effective = {}       # id(workload) -> {binary: config}

    def check(self, ok, where, msg):
        self.checks += 1
        if not ok:
            self.errors.append(f"{where}: {msg}")
        return ok

    @staticmethod
    def name(obj):
        return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"

    # ---- per object
    def run(self):
        for d in self.docs:
            self.check(labels_of(d).get(PART_OF[0]) == PART_OF[1], self.name(d),
                       f"missing common label {PART_OF[0]}={PART_OF[1]}")
        for workload, tmpl in self.pods:
            self.check_pod(workload, tmpl)
        self.check_images()
        self.check_jobs()
        self.check_services()
        self.check_hpas()
        self.check_pdbs()
        self.check_network_policies()
        return self.errors

    def check_pod(self, w, tmpl):
        where = self.name(w)
        spec = tmpl.get("spec") or {}
        psc = spec.get("securityContext") or {}
        self.check(PART_OF[0] in (tmpl.get("metadata") or {}).get("labels", {}), where,
                   "pod template lacks the common labels")
        self.check(COMPONENT in ((tmpl.get("metadata") or {}).get("labels") or {}), where,
                   f"pod template lacks {COMPONENT}")
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            cw = f"{where} container {c.get('name')}"
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    self.check(r in (res.get(part) or {}), cw, f"no resources.{part}.{r}")
            if w["kind"] in LONG_RUNNING and c in (spec.get("containers") or []):
                self.check("livenessProbe" in c, cw, "no livenessProbe")
                self.check("readinessProbe" in c, cw, "no readinessProbe")
            csc = c.get("securityContext") or {}
            eff = lambda k: csc.get(k, psc.get(k))  # noqa: E731
            self.check(eff("runAsNonRoot") is True, cw, "runAsNonRoot is not true")
            self.check(eff("runAsUser") != 0, cw, "runAsUser is 0 (root)")
            self.check(csc.get("readOnlyRootFilesystem") is True, cw,
                       "readOnlyRootFilesystem is not true")
            self.check(csc.get("allowPrivilegeEscalation") is False, cw,
                       "allowPrivilegeEscalation is not false")
            self.check("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), cw,
                       "capabilities do not drop ALL")
            self.check(((eff("seccompProfile") or {}).get("type")) == "RuntimeDefault", cw,
                       "seccompProfile is not RuntimeDefault")
            image = c.get("image", "")
            _, tag = image_parts(image)
            self.check(tag not in ("", "latest"), cw, f"image {image!r} has no pinned tag (latest)")
            binary = binary_of(c)
            if binary:
                self.raceway_images.setdefault(image, []).append(cw)
                self.check_raceway_container(w, tmpl, c, binary, cw)

    # ---- Raceway containers: config, ports, probes, drain
    def load_config(self, w, spec, c, cw):
        cmd = command_of(c)
        path = None
        for i, a in enumerate(cmd):
            if a == "--config" and i + 1 < len(cmd):
                path = cmd[i + 1]
            elif a.startswith("--config="):
                path = a.split("=", 1)[1]
        if not self.check(path is not None, cw, "no --config file"):
            return None
        mount = None
        for m in c.get("volumeMounts") or []:
            mp = m["mountPath"].rstrip("/")
            if os.path.dirname(path) == mp or (m.get("subPath") and path == mp):
                mount = m
        if not self.check(mount is not None, cw, f"--config {path} is not on a volumeMount"):
            return None
        vol = next((v for v in spec.get("volumes") or [] if v["name"] == mount["name"]), None)
        cm_name = ((vol or {}).get("configMap") or {}).get("name")
        if not self.check(cm_name in self.configmaps, cw,
                          f"--config {path}: volume {mount['name']} is not a rendered ConfigMap"):
            return None
        data_key = mount.get("subPath") or os.path.basename(path)
        text = (self.configmaps[cm_name].get("data") or {}).get(data_key)
        if not self.check(text is not None, cw, f"ConfigMap {cm_name} has no key {data_key}"):
            return None
        try:
            table = flatten(tomllib.loads(text))
        except tomllib.TOMLDecodeError as e:
            self.check(False, cw, f"ConfigMap {cm_name} {data_key}: invalid TOML: {e}")
            return None
        for k in table:
            self.check(k in self.keys, cw, f"{cm_name}/{data_key}: unknown key {k!r} "
                       "(the binary refuses to start)")
            self.check(k not in CREDENTIAL_KEYS, cw,
                       f"{cm_name}/{data_key}: credential {k} in a ConfigMap; use a secretKeyRef")
        return table

    def env_config(self, c, cw):
        """RACEWAY_* overrides: envFrom first, then env (which wins)."""
        by_env = {env_name(k): k for k in self.keys}
        out = {}

        def put(name, value, source):
            if not name.startswith("RACEWAY_"):
                return
            key = by_env.get(name)
            if not self.check(key is not None, cw, f"{source}: unknown config variable {name} "
                              "(ignored by the binary: a typo?)"):
                return
            if key in CREDENTIAL_KEYS:
                self.check(value is SECRET, cw,
                           f"{source}: {name} is a credential and must come from a secretKeyRef")
            out[key] = value

        for ef in c.get("envFrom") or []:
            if "configMapRef" in ef:
                cm = self.configmaps.get(ef["configMapRef"]["name"])
                if self.check(cm is not None or ef["configMapRef"].get("optional"), cw,
                              f"envFrom ConfigMap {ef['configMapRef']['name']} is not rendered"):
                    for k, v in ((cm or {}).get("data") or {}).items():
                        put(ef.get("prefix", "") + k, v, f"envFrom {ef['configMapRef']['name']}")
            elif "secretRef" in ef:
                sec = self.secrets.get(ef["secretRef"]["name"])
                for k in ((sec or {}).get("data") or {}):
                    put(ef.get("prefix", "") + k, SECRET, f"envFrom {ef['secretRef']['name']}")
        for e in c.get("env") or []:
            name = e["name"]
            if "value" in e:
                put(name, e["value"], f"env {name}")
                continue
            vf = e.get("valueFrom") or {}
            if "secretKeyRef" in vf:
                self.note_secret(vf["secretKeyRef"], cw)
                put(name, SECRET, f"env {name}")
            elif "configMapKeyRef" in vf:
                ref = vf["configMapKeyRef"]
                cm = self.configmaps.get(ref["name"])
                val = ((cm or {}).get("data") or {}).get(ref["key"])
                self.check(val is not None or ref.get("optional"), cw,
                           f"env {name}: ConfigMap {ref['name']} key {ref['key']} not rendered")
                put(name, val, f"env {name}")
            elif name.startswith("RACEWAY_"):
                put(name, None, f"env {name}")
        return out

    def note_secret(self, ref, cw):
        sec = self.secrets.get(ref["name"])
        if sec is None:  # Created by the operator (production).
            self.external_secrets.setdefault(ref["name"], set()).add(
                ref["key"] + ("?" if ref.get("optional") else ""))
            return
        keys = set((sec.get("data") or {})) | set((sec.get("stringData") or {}))
        self.check(ref["key"] in keys or ref.get("optional"), cw,
                   f"secretKeyRef {ref['name']}/{ref['key']}: key not in the rendered Secret")

    def check_raceway_container(self, w, tmpl, c, binary, cw):
        spec = tmpl["spec"]
        table = self.load_config(w, spec, c, cw)
        if table is None:
            return
        cfg = dict(DEFAULTS)
        cfg.update(table)
        cfg.update(self.env_config(c, cw))
        for a in command_of(c):
            m = re.match(r"--([a-z_]+\.[a-z_.]+)=(.*)$", a)
            if m:
                self.check(m.group(1) in self.keys, cw, f"unknown flag --{m.group(1)}")
                self.check(m.group(1) not in CREDENTIAL_KEYS, cw,
                           f"credential --{m.group(1)} on the command line")
                cfg[m.group(1)] = m.group(2)
        self.effective.setdefault(id(w), {})[binary] = cfg
        backend = cfg["storage.backend"]
        self.check(backend in SHARED_BACKENDS, cw,
                   f"storage.backend {backend!r}: replicas need a shared database "
                   f"({', '.join(sorted(SHARED_BACKENDS))})")
        dialect = "mysql" if backend == "mysql" else "postgres"
        self.check(cfg.get(f"storage.{dialect}.connection_string") is SECRET, cw,
                   f"storage.{dialect}.connection_string does not come from a Secret")

        if binary == "cli":
            return
        # Services.
        self.check(str(cfg.get(f"storage.{dialect}.auto_migrate", True)).lower() == "false", cw,
                   f"storage.{dialect}.auto_migrate must be false: the migrations Job owns "
                   "the schema (and a pod on an old schema must not become ready)")
        ports = {p.get("name"): p for p in c.get("ports") or []}
        expected = {}
        for pname, key in PORTS[binary].items():
            value = cfg.get(key, "")
            if value == "":
                continue
            host, port = listen_port(str(value))
            expected[pname] = port
            self.check(host in ("0.0.0.0", "::", ""), cw,
                       f"{key} = {value!r}: not reachable from other pods (loopback/host)")
            self.check(pname in ports and ports[pname]["containerPort"] == port, cw,
                       f"{key} = {value!r} but containerPort {pname!r} is "
                       f"{ports.get(pname, {}).get('containerPort')}")
        for pname, p in ports.items():
            self.check(expected.get(pname) == p["containerPort"], cw,
                       f"containerPort {pname}={p['containerPort']} matches no listen address "
                       "of the config")
        grpc_port = expected.get("grpc")
        for probe in ("livenessProbe", "readinessProbe"):
            pr = c.get(probe) or {}
            self.check((pr.get("grpc") or {}).get("port") == grpc_port, cw,
                       f"{probe} is not a native gRPC probe on port {grpc_port}")
        ann = (tmpl.get("metadata") or {}).get("annotations") or {}
        self.check(ann.get("prometheus.io/scrape") == "true", cw,
                   "pod lacks prometheus.io/scrape: \"true\"")
        self.check(str(ann.get("prometheus.io/port")) == str(expected.get("metrics")), cw,
                   f"prometheus.io/port {ann.get('prometheus.io/port')!r} is not the metrics "
                   f"port {expected.get('metrics')}")
        pre = prestop_seconds(c)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if self.check(pre is not None, cw, "no preStop sleep (traffic still arrives at SIGTERM)"):
            drain = int(cfg["ingest.shutdown_grace_seconds"]) if binary == "ingest" else 0
            self.check(grace > drain + pre, cw,
                       f"terminationGracePeriodSeconds {grace} <= "
                       f"ingest.shutdown_grace_seconds {drain} + preStop {pre}")
        if binary == "ingest":
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            buffered = int(cfg["ingest.max_buffered_bytes"])
            self.check(limit is not None and quantity(limit) > buffered + MEMORY_HEADROOM, cw,
                       f"memory limit {limit} <= ingest.max_buffered_bytes {buffered} + 256Mi: "
                       "the OOM killer would strike before backpressure")

    def check_images(self):
        images = sorted(self.raceway_images)
        self.check(len(images) == 1, "images",
                   f"Raceway containers use {len(images)} different images: "
                   + "; ".join(f"{i} ({', '.join(self.raceway_images[i])})" for i in images))
        for i in images:
            repo, _ = image_parts(i)
            self.check(repo.rsplit("/", 1)[-1] == "raceway", "images",
                       f"image {i!r} is not named raceway")

    # ---- Job, CronJob, rollout phase
    def find_workloads(self, kind, binary, verb):
        out = []
        for w, tmpl in self.pods:
            if w["kind"] != kind:
                continue
            for c in tmpl["spec"].get("containers") or []:
                cmd = command_of(c)
                if binary_of(c) == binary and (verb is None or verb in cmd[1:2]):
                    out.append((w, tmpl, c))
        return out

    def check_jobs(self):
        for kind, binary in (("Deployment", "ingest"), ("Deployment", "query")):
            self.check(self.find_workloads(kind, binary, None), "workloads",
                       f"no {kind} runs raceway-{binary}")
        jobs = self.find_workloads("Job", "cli", "migrate")
        if self.check(jobs, "workloads", "no migrations Job (`raceway migrate up`)"):
            for w, tmpl, c in jobs:
                where = self.name(w)
                self.check(command_of(c)[1:3] == ["migrate", "up"], where,
                           "the migrations Job must run `raceway migrate up`")
                self.check("backoffLimit" in w["spec"], where, "no backoffLimit")
                self.check("ttlSecondsAfterFinished" in w["spec"], where,
                           "no ttlSecondsAfterFinished")
                self.check(tmpl["spec"].get("restartPolicy") in ("Never", "OnFailure"), where,
                           "restartPolicy must be Never or OnFailure")
                self.check_pre_rollout(w, tmpl)
        crons = self.find_workloads("CronJob", "cli", "retention")
        if self.check(crons, "workloads", "no retention CronJob (`raceway retention`)"):
            for w, tmpl, c in crons:
                where = self.name(w)
                cmd = command_of(c)
                hours = cmd[cmd.index("--hours") + 1] if "--hours" in cmd else None
                cfg = self.effective.get(id(w), {}).get("cli") or DEFAULTS
                self.check(hours is not None and int(hours) == int(cfg["storage.retention_hours"]),
                           where, f"retention --hours {hours} differs from "
                           f"storage.retention_hours {cfg['storage.retention_hours']}")
                self.check(w["spec"].get("concurrencyPolicy") == "Forbid", where,
                           "concurrencyPolicy should be Forbid")

    def check_pre_rollout(self, job, tmpl):
        """`kubectl apply -l raceway/phase=pre-rollout` must bring the Job and
        everything it needs."""
        need = [job]
        spec = tmpl["spec"]
        sa = spec.get("serviceAccountName")
        need += [d for d in self.by_kind.get("ServiceAccount", []) if d["metadata"]["name"] == sa]
        for v in spec.get("volumes") or []:
            if "configMap" in v:
                need.append(self.configmaps.get(v["configMap"]["name"]))
        for c in spec.get("containers") or []:
            for ef in c.get("envFrom") or []:
                ref = ef.get("configMapRef") or ef.get("secretRef") or {}
                need.append(self.configmaps.get(ref.get("name")) or self.secrets.get(ref.get("name")))
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {})
                if "secretKeyRef" in ref:
                    need.append(self.secrets.get(ref["secretKeyRef"]["name"]))
                if "configMapKeyRef" in ref:
                    need.append(self.configmaps.get(ref["configMapKeyRef"]["name"]))
        # Databases and namespaces rendered with the app must exist before.
        need += self.by_kind.get("StatefulSet", []) + self.by_kind.get("Namespace", [])
        for d in need:
            if d is not None:
                self.check(labels_of(d).get(PHASE_LABEL) == PHASE_VALUE, self.name(d),
                           f"needed by the migrations Job but not labelled "
                           f"{PHASE_LABEL}={PHASE_VALUE} (rollout step 1 would miss it)")

    # ---- Services
    def pods_selected(self, selector):
        return [(w, t) for w, t in self.pods
                if selector_matches(selector, (t.get("metadata") or {}).get("labels") or {})]

    def resolve_port(self, target, pods):
        """containerPort numbers a (named or numeric) port resolves to."""
        out = set()
        for _, t in pods:
            found = None
            for c in t["spec"].get("containers") or []:
                for p in c.get("ports") or []:
                    if p.get("name") == target or p.get("containerPort") == target:
                        found = p["containerPort"]
            out.add(found)
        return out

    def listen_ports(self, w):
        ports = set()
        for binary, cfg in self.effective.get(id(w), {}).items():
            for key in PORTS.get(binary, {}).values():
                if cfg.get(key):
                    ports.add(listen_port(str(cfg[key]))[1])
        return ports

    def check_services(self):
        for s in self.by_kind.get("Service", []):
            where = self.name(s)
            sel = s["spec"].get("selector")
            pods = self.pods_selected(sel) if sel else []
            if not self.check(pods, where, "selects no pods"):
                continue
            for p in s["spec"].get("ports") or []:
                target = p.get("targetPort", p["port"])
                resolved = self.resolve_port(target, pods)
                self.check(None not in resolved and len(resolved) == 1, where,
                           f"port {p.get('name')}: targetPort {target!r} is not a containerPort "
                           f"of every selected pod")
                for w, _ in pods:
                    lp = self.listen_ports(w)
                    if lp:
                        self.check(resolved <= lp, where,
                                   f"port {p.get('name')}: targetPort {target!r} -> {resolved} is "
                                   f"not a listen port of raceway.toml ({sorted(lp)})")
            if s["spec"].get("clusterIP") != "None":
                self.check(all(p.get("name") for p in s["spec"].get("ports") or []), where,
                           "unnamed Service port")
        # Dev: the database URL of a rendered Secret points at a rendered Service.
        for sec in self.secrets.values():
            for k, v in (sec.get("data") or {}).items():
                if not k.endswith("url"):
                    continue
                url = urllib.parse.urlparse(base64.b64decode("".join(v.split())).decode())
                if url.hostname and "." not in url.hostname:
                    svc = next((s for s in self.by_kind.get("Service", [])
                                if s["metadata"]["name"] == url.hostname), None)
                    self.check(svc is not None and any(p["port"] == (url.port or 5432)
                                                       for p in svc["spec"]["ports"]),
                               self.name(sec), f"{k} points at {url.hostname}:{url.port}, "
                               "which is no rendered Service port")

    # ---- HPA, PDB
    def check_hpas(self):
        hpa_targets = set()
        for h in self.by_kind.get("HorizontalPodAutoscaler", []):
            where = self.name(h)
            ref = h["spec"].get("scaleTargetRef") or {}
            target = next((d for d in self.by_kind.get(ref.get("kind"), [])
                           if d["metadata"]["name"] == ref.get("name")), None)
            self.check(ref.get("kind") == "Deployment" and target is not None, where,
                       f"scaleTargetRef {ref.get('kind')}/{ref.get('name')} is no rendered "
                       "Deployment")
            if target is not None:
                hpa_targets.add(ref["name"])
                self.check("replicas" not in target["spec"], self.name(target),
                           "spec.replicas is set although an HPA owns it (apply would reset it)")
            lo, hi = h["spec"].get("minReplicas", 1), h["spec"].get("maxReplicas", 0)
            self.check(1 <= lo <= hi, where, f"minReplicas {lo} / maxReplicas {hi}")
            self.check(any((m.get("resource") or {}).get("name") == "cpu"
                           for m in h["spec"].get("metrics") or []), where, "no CPU metric")
        for d in self.by_kind.get("Deployment", []):
            self.check(d["metadata"]["name"] in hpa_targets, self.name(d), "has no HPA")

    def check_pdbs(self):
        covered = set()
        for p in self.by_kind.get("PodDisruptionBudget", []):
            pods = self.pods_selected(p["spec"].get("selector"))
            self.check(pods, self.name(p), "PodDisruptionBudget selects no pods")
            self.check("maxUnavailable" in p["spec"] or "minAvailable" in p["spec"],
                       self.name(p), "neither maxUnavailable nor minAvailable")
            covered |= {w["metadata"]["name"] for w, _ in pods}
        for d in self.by_kind.get("Deployment", []):
            self.check(d["metadata"]["name"] in covered, self.name(d), "has no PodDisruptionBudget")

    # ---- NetworkPolicy
    def check_network_policies(self):
        nps = [n for n in self.by_kind.get("NetworkPolicy", [])
               if "Ingress" in (n["spec"].get("policyTypes") or ["Ingress"])]
        for w, t in self.pods:
            labels = (t.get("metadata") or {}).get("labels") or {}
            self.check(any(selector_matches(n["spec"].get("podSelector") or {}, labels)
                           for n in nps), self.name(w),
                       "no Ingress NetworkPolicy selects these pods (open to everything, "
                       "dashboards included)")
        query_web = set()
        for w, _ in self.pods:
            cfg = self.effective.get(id(w), {}).get("query")
            if cfg and cfg.get("query.grpc_web_listen"):
                query_web.add(listen_port(str(cfg["query.grpc_web_listen"]))[1])
        exposed = False
        for n in nps:
            where = self.name(n)
            pods = self.pods_selected(n["spec"].get("podSelector") or {})
            only_query = pods and all(
                self.effective.get(id(w), {}).keys() == {"query"} for w, _ in pods)
            for i, rule in enumerate(n["spec"].get("ingress") or []):
                peers = rule.get("from") or []
                if peers and not any(may_admit_dashboard(p) for p in peers):
                    continue
                ports = rule.get("ports") or []
                resolved = set()
                for p in ports:
                    if "endPort" in p:
                        resolved.add(None)
                    resolved |= self.resolve_port(p.get("port"), pods) if "port" in p else {None}
                ok = bool(ports) and only_query and resolved and resolved <= query_web
                self.check(ok, where,
                           f"ingress rule {i} could admit dashboard pods "
                           f"({COMPONENT}={DASHBOARD}) to ports "
                           f"{sorted(map(str, resolved)) if ports else 'ALL'} "
                           f"of {', '.join(sorted({self.name(w) for w, _ in pods}))}; "
                           f"dashboards may reach only query's gRPC-Web port {sorted(query_web)}")
                exposed = exposed or ok
        self.check(exposed, "NetworkPolicy",
                   "no rule lets dashboards reach the query gRPC-Web port")


# ----------------------------------------------------------------- self-test

class NotApplicable(Exception):
    pass


def _find(docs, kind, component=None, name_prefix=None):
    for d in docs:
        if d.get("kind") != kind:
            continue
        if component and labels_of(d).get(COMPONENT) != component:
            continue
        if name_prefix and not d["metadata"]["name"].startswith(name_prefix):
            continue
        return d
    raise NotApplicable(f"no {kind} {component or name_prefix}")


def _container(docs, kind, component):
    d = _find(docs, kind, component)
    tmpl = d["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else d["spec"]["template"]
    return tmpl["spec"]["containers"][0], tmpl, d


def _toml(docs, old, new):
    cm = _find(docs, "ConfigMap", name_prefix="raceway-config")
    text = cm["data"]["raceway.toml"]
    if old not in text:
        raise NotApplicable(f"{old!r} not in raceway.toml")
    cm["data"]["raceway.toml"] = text.replace(old, new, 1)


def _set_image(c, image):
    c["image"] = image


def _np_rule(docs, component, pred):
    np = _find(docs, "NetworkPolicy", component)
    for r in np["spec"]["ingress"]:
        if pred(r):
            return r
    raise NotApplicable("rule")


def _del(d, key):
    if key not in d:
        raise NotApplicable(key)
    del d[key]


MUTATIONS = [
    ("ingest readinessProbe removed", "no readinessProbe",
     lambda D: _del(_container(D, "Deployment", "ingest")[0], "readinessProbe")),
    ("query livenessProbe removed", "no livenessProbe",
     lambda D: _del(_container(D, "Deployment", "query")[0], "livenessProbe")),
    ("migrations Job limits removed", "no resources.limits",
     lambda D: _del(_container(D, "Job", "migrations")[0]["resources"], "limits")),
    ("query requests removed", "no resources.requests",
     lambda D: _del(_container(D, "Deployment", "query")[0]["resources"], "requests")),
    ("HPA targets a missing Deployment", "scaleTargetRef",
     lambda D: _find(D, "HorizontalPodAutoscaler", "ingest")["spec"]["scaleTargetRef"]
     .update(name="raceway-ingest-typo")),
    ("HPA and spec.replicas both set", "spec.replicas is set",
     lambda D: _find(D, "Deployment", "ingest")["spec"].update(replicas=3)),
    ("Service targetPort drifted", "targetPort",
     lambda D: _find(D, "Service", "ingest")["spec"]["ports"][0].update(targetPort=50055)),
    ("raceway.toml ingest port drifted", "ingest.listen",
     lambda D: _toml(D, "0.0.0.0:50051", "0.0.0.0:50061")),
    ("raceway.toml metrics port drifted", "metrics.query_listen",
     lambda D: _toml(D, "0.0.0.0:9092", "0.0.0.0:9093")),
    ("grpc-web listens on loopback", "not reachable",
     lambda D: _toml(D, "0.0.0.0:8081", "127.0.0.1:8081")),
    ("unknown key in raceway.toml", "unknown key",
     lambda D: _toml(D, "[ingest]", "[ingest]\nbatchsize = 10")),
    ("auto_migrate switched on", "auto_migrate must be false",
     lambda D: _toml(D, "auto_migrate = false", "auto_migrate = true")),
    ("retention hours drifted", "retention --hours",
     lambda D: _toml(D, "retention_hours = 168", "retention_hours = 24")),
    ("migrations Job on another tag", "different images",
     lambda D: _set_image(_container(D, "Job", "migrations")[0],
                          image_parts(_container(D, "Job", "migrations")[0]["image"])[0] + ":other")),
    ("retention CronJob on another image", "different images",
     lambda D: _set_image(_container(D, "CronJob", "retention")[0], "example.org/other:1.0")),
    ("image tag latest", "no pinned tag",
     lambda D: _set_image(_container(D, "Deployment", "query")[0], "raceway:latest")),
    ("readOnlyRootFilesystem off", "readOnlyRootFilesystem",
     lambda D: _container(D, "Deployment", "query")[0]["securityContext"]
     .update(readOnlyRootFilesystem=False)),
    ("runs as root", "runAsNonRoot",
     lambda D: (_container(D, "Deployment", "ingest")[1]["spec"]["securityContext"]
                .update(runAsNonRoot=False, runAsUser=0),
                _container(D, "Deployment", "ingest")[0]["securityContext"]
                .pop("runAsNonRoot", None))),
    ("capabilities kept", "drop ALL",
     lambda D: _del(_container(D, "CronJob", "retention")[0]["securityContext"], "capabilities")),
    ("seccomp missing", "seccompProfile",
     lambda D: _del(_container(D, "Job", "migrations")[1]["spec"]["securityContext"],
                    "seccompProfile")),
    ("grace shorter than the drain", "terminationGracePeriodSeconds",
     lambda D: _container(D, "Deployment", "ingest")[1]["spec"]
     .update(terminationGracePeriodSeconds=30)),
    ("preStop removed", "no preStop",
     lambda D: _del(_container(D, "Deployment", "ingest")[0], "lifecycle")),
    ("memory limit below the buffer bound", "max_buffered_bytes",
     lambda D: _container(D, "Deployment", "ingest")[0]["resources"]["limits"]
     .update(memory="300Mi")),
    ("scrape annotation on the wrong port", "prometheus.io/port",
     lambda D: _container(D, "Deployment", "ingest")[1]["metadata"]["annotations"]
     .update({"prometheus.io/port": "9999"})),
    ("containerPort without listen", "matches no listen",
     lambda D: _container(D, "Deployment", "query")[0]["ports"]
     .append({"name": "debug", "containerPort": 6060})),
    ("probe on a non-gRPC port", "native gRPC probe",
     lambda D: _container(D, "Deployment", "query")[0]["readinessProbe"]["grpc"]
     .update(port=8081)),
    ("env name typo", "unknown config variable",
     lambda D: next(e for e in _container(D, "Deployment", "ingest")[0]["env"]
                    if e["name"] == "RACEWAY_AUTH_INGEST_KEYS").update(name="RACEWAY_AUTH_INGEST_KEY")),
    ("credential as a literal", "secretKeyRef",
     lambda D: [e.update(value="postgresql://u:p@db/x") or e.pop("valueFrom")
                for e in _container(D, "Deployment", "query")[0]["env"]
                if e["name"] == "RACEWAY_STORAGE_POSTGRES_CONNECTION_STRING"]),
    ("sqlite backend", "shared database",
     lambda D: _find(D, "ConfigMap", name_prefix="raceway-env")["data"]
     .update(RACEWAY_STORAGE_BACKEND="sqlite")),
    ("dashboards reach query gRPC", "could admit dashboard",
     lambda D: _np_rule(D, "query", lambda r: any(may_admit_dashboard(p) for p in r["from"]))
     ["ports"].append({"port": "grpc", "protocol": "TCP"})),
    ("ingest open to everybody", "could admit dashboard",
     lambda D: _find(D, "NetworkPolicy", "ingest")["spec"]["ingress"].append({})),
    ("ingest rule no longer excludes dashboards", "could admit dashboard",
     lambda D: _np_rule(D, "ingest", lambda r: any(p.get("namespaceSelector") == {}
                                                   for p in r["from"]))["from"][0]
     .pop("podSelector")),
    ("query NetworkPolicy deleted", "no Ingress NetworkPolicy",
     lambda D: D.remove(_find(D, "NetworkPolicy", "query"))),
    ("PDB selects nothing", "selects no pods",
     lambda D: _find(D, "PodDisruptionBudget", "query")["spec"]["selector"]["matchLabels"]
     .update({COMPONENT: "nothing"})),
    ("migrations Job missing", "no migrations Job",
     lambda D: D.remove(_find(D, "Job", "migrations"))),
    ("Job without backoffLimit", "no backoffLimit",
     lambda D: _del(_find(D, "Job", "migrations")["spec"], "backoffLimit")),
    ("Job config not in rollout step 1", "pre-rollout",
     lambda D: _del(_find(D, "ConfigMap", name_prefix="raceway-config")["metadata"]["labels"],
                    PHASE_LABEL)),
    ("common labels missing", "common label",
     lambda D: _del(_find(D, "Service", "query")["metadata"]["labels"], PART_OF[0])),
]


# ----------------------------------------------------------------- alert rules

def defined_metrics(root):
    """{service: {metric names registered in services/<service>/*.cc}}."""
    out = {}
    sdir = os.path.join(root, "services")
    for svc in sorted(os.listdir(sdir)) if os.path.isdir(sdir) else []:
        names = set()
        for f in os.listdir(os.path.join(sdir, svc)):
            if f.endswith((".cc", ".h")):
                text = open(os.path.join(sdir, svc, f), encoding="utf-8").read()
                names |= set(re.findall(r'"(raceway_[a-z0-9_]+)"', text))
        out[svc] = names
    return out


def check_rules(path, kustomization, root):
    """The optional PrometheusRule: well-formed, not in the default
    kustomization (the CRD may be absent), metrics that the services define."""
    errors = []
    docs = [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
    if len(docs) != 1 or docs[0].get("kind") != "PrometheusRule" or \
            docs[0].get("apiVersion") != "monitoring.coreos.com/v1":
        return [f"{path}: expected one monitoring.coreos.com/v1 PrometheusRule"]
    k = yaml.safe_load(open(kustomization, encoding="utf-8"))
    listed = (k.get("resources") or []) + (k.get("bases") or [])
    if os.path.basename(path) in [os.path.basename(r) for r in listed]:
        errors.append(f"{kustomization} lists {os.path.basename(path)}: the base would need "
                      "the PrometheusRule CRD")
    metrics = defined_metrics(root)
    alerts, used, pending = set(), set(), set()
    for g in docs[0]["spec"].get("groups") or []:
        for r in g.get("rules") or []:
            name = r.get("alert")
            where = f"{path}: alert {name}"
            if not name or name in alerts:
                errors.append(f"{where}: missing or duplicate alert name")
            alerts.add(name)
            expr = r.get("expr") or ""
            if not expr.strip() or expr.count("(") != expr.count(")"):
                errors.append(f"{where}: empty or unbalanced expr")
            if (r.get("labels") or {}).get("severity") not in ("info", "warning", "critical"):
                errors.append(f"{where}: labels.severity must be info, warning or critical")
            if not (r.get("annotations") or {}).get("summary"):
                errors.append(f"{where}: no annotations.summary")
            for m in re.findall(r"\b(raceway_[a-z0-9_]+)", expr):
                m = re.sub(r"_(bucket|sum|count)$", "", m)
                used.add(m)
                svc = m.split("_")[1]
                if metrics.get(svc):
                    if m not in metrics[svc]:
                        errors.append(f"{where}: {m} is not a metric of services/{svc} "
                                      f"({sorted(metrics[svc])})")
                else:
                    pending.add(m)
    note = f"; not yet defined in the sources: {sorted(pending)}" if pending else ""
    print(f"{os.path.basename(path)}: {len(alerts)} alerts over {len(used)} Raceway metrics, "
          f"{len(errors)} violation(s){note}")
    return errors


def check_docs(docs, keys):
    c = Checker(docs, keys)
    return c.run(), c


def self_test(path, docs, keys):
    errors, _ = check_docs(docs, keys)
    if errors:
        print(f"FAIL self-test {path}: the input itself has {len(errors)} violation(s)")
        return False
    ok = True
    caught = 0
    for title, expect, mutate in MUTATIONS:
        mutated = copy.deepcopy(docs)
        try:
            mutate(mutated)
        except (NotApplicable, StopIteration, KeyError) as e:
            print(f"FAIL self-test {path}: mutation {title!r} does not apply ({e!r})")
            ok = False
            continue
        errors, _ = check_docs(mutated, keys)
        if any(expect in e for e in errors):
            caught += 1
        else:
            ok = False
            print(f"FAIL self-test {path}: mutation {title!r} not caught "
                  f"(expected an error containing {expect!r}; got {errors[:3]})")
    print(f"self-test {os.path.basename(path)}: {caught}/{len(MUTATIONS)} injected "
          "violations caught")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config-source", required=True,
                    help="libs/service/config.cc (source of the known config keys)")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--rules", help="PrometheusRule file to check")
    ap.add_argument("--kustomization", help="the base kustomization.yaml (with --rules)")
    ap.add_argument("rendered", nargs="*")
    args = ap.parse_args()
    keys = known_config_keys(args.config_source)
    ok = True
    if args.rules:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(args.config_source))))
        errors = check_rules(args.rules, args.kustomization, root)
        for e in errors:
            print(f"FAIL {e}")
        ok = not errors
    for path in args.rendered:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        if args.self_test:
            ok = self_test(path, docs, keys) and ok
            continue
        errors, c = check_docs(docs, keys)
        for e in errors:
            print(f"FAIL {os.path.basename(path)} {e}")
        ext = ", ".join(f"{n}{{{','.join(sorted(k))}}}" for n, k in sorted(c.external_secrets.items()))
        print(f"{os.path.basename(path)}: {len(docs)} objects, {c.checks} checks, "
              f"{len(errors)} violation(s)" + (f"; Secrets the operator creates: {ext}" if ext else ""))
        ok = ok and not errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
