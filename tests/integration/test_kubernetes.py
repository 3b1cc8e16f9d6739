"""deploy/kubernetes/, the kustomize base, checked offline (no cluster).

- The PrometheusRule is what deploy/gen-prometheusrule.py makes of etc/prometheus/rules.yml
  and alerts.yml, byte for byte, and its groups are those files' groups.
- `kubectl kustomize deploy/kubernetes` builds (Debian's kubectl 1.20 and newer ones) and
  gives exactly the objects the base promises.
- Every object, and the Secret example, validates against the Kubernetes and Prometheus
  Operator schemas (npm kubernetes-models and @kubernetes-models/prometheus-operator, through
  tests/kubernetes/validate.js, which also refuses unknown fields); broken objects are refused.
- The objects agree with the rest of the repository: the image's user, port and config path
  (Dockerfile), the shipped config byte for byte, the version, the job name the alerts
  select, the ports of the shipped dependencies, the variables the config reads.

kubectl (Debian: kubernetes-client) and node with the npm packages come from
tests/install-deps.sh; where one is missing, the checks that need it print SKIP and why.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

import xptest
import yaml

SRC = xptest.SOURCE_DIR
KUBE = os.path.join(SRC, "deploy", "kubernetes")
GEN = os.path.join(SRC, "deploy", "gen-prometheusrule.py")
VALIDATE = os.path.join(SRC, "tests", "kubernetes", "validate.js")
PROM = os.path.join(SRC, "etc", "prometheus")
INI = os.path.join(SRC, "etc", "resilience_exporter.ini")
LABELS = {"app.kubernetes.io/name": "resilience-exporter"}
SECRET = "resilience-exporter-staging"


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    return r.returncode, r.stdout, r.stderr


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def dockerfile():
    """(uid of USER, EXPOSEd port, --config.file of CMD) of the runtime stage."""
    with open(os.path.join(SRC, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    user = re.findall(r"^USER\s+(\d+)", text, re.M)[-1]
    port = re.findall(r"^EXPOSE\s+(\d+)", text, re.M)[-1]
    cmd = json.loads(re.findall(r"^CMD\s+(\[.*\])", text, re.M)[-1])
    config = [a.split("=", 1)[1] for a in cmd if a.startswith("--config.file=")][0]
    return int(user), int(port), config


def bench_rss(text):
    """The RSS columns (MiB) of resilience_exporter's row in docs/benchmarks.md's results."""
    rows = [[c.strip() for c in l.strip().strip("|").split("|")] for l in text.splitlines() if l.startswith("|")]
    header = next(r for r in rows if r[0] == "subject" and any(c.startswith("RSS") for c in r))
    row = next(r for r in rows if r[0] == "resilience_exporter" and len(r) == len(header))
    values = [float(row[i]) for i, c in enumerate(header) if c.startswith("RSS")]
    assert values, header
    return values


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


class Kubernetes(xptest.Test):
    def __init__(self):
        self.tmp = xptest.TmpDir("kubernetes")
        self._objects = None
        self.kubectl = os.environ.get("XP_KUBECTL") or shutil.which("kubectl")

    def teardown_all(self):
        self.tmp.cleanup()

    def objects(self):
        """The built base as a list of objects; None (after printing why) without kubectl."""
        if self._objects is None:
            if not self.kubectl:
                print("SKIP kustomize build: no kubectl (apt-get install kubernetes-client)")
                return None
            rc, out, err = run([self.kubectl, "kustomize", KUBE])
            assert rc == 0, err
            # newer kubectl warns that `bases:` is deprecated (kept for kubectl 1.20); nothing else
            noise = [l for l in err.splitlines() if l.strip() and "'bases' is deprecated" not in l]
            assert not noise, err
            self._objects = [d for d in yaml.safe_load_all(out) if d]
        return self._objects

    def one(self, kind, name=None):
        found = [o for o in self.objects() if o["kind"] == kind
                 and (name is None or o["metadata"]["name"].startswith(name))]
        assert len(found) == 1, (kind, name, [o["metadata"]["name"] for o in found])
        return found[0]

    # ------------------------------------------------------------ the generated rules
    def test_prometheusrule_is_generated(self):
        rc, out, err = run([sys.executable, GEN, "--check"])
        assert rc == 0, "deploy/kubernetes/prometheusrule.yaml is stale:\n" + out + err
        rule = load_yaml(os.path.join(KUBE, "prometheusrule.yaml"))
        assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
        want = load_yaml(os.path.join(PROM, "rules.yml"))["groups"] + load_yaml(os.path.join(PROM, "alerts.yml"))["groups"]
        assert rule["spec"]["groups"] == want, "the PrometheusRule's groups are not etc/prometheus/'s"
        # and the check sees a change of the source (a for: of one alert)
        with open(os.path.join(PROM, "alerts.yml")) as f:
            alerts = f.read()
        assert "        for: 2m\n" in alerts
        changed = self.tmp.file("alerts.yml", alerts.replace("        for: 2m\n", "        for: 3m\n", 1))
        rc, out, err = run([sys.executable, GEN, "--check", os.path.join(PROM, "rules.yml"), changed])
        assert rc == 1 and "-      for: 2m" in out and "+      for: 3m" in out, out + err

    # ------------------------------------------------------------ build and schemas
    def test_kustomize_builds(self):
        objs = self.objects()
        if objs is None:
            return
        kinds = sorted((o["kind"], re.sub(r"-[a-z0-9]{10}$", "-HASH", o["metadata"]["name"])) for o in objs)
        assert kinds == [
            ("ConfigMap", "resilience-exporter-config-HASH"), ("ConfigMap", "resilience-exporter-env-HASH"),
            ("Deployment", "resilience-exporter"), ("NetworkPolicy", "resilience-exporter"),
            ("PodDisruptionBudget", "resilience-exporter"), ("PrometheusRule", "resilience-exporter"),
            ("Service", "resilience-exporter"), ("ServiceMonitor", "resilience-exporter")], kinds
        for o in objs:
            assert "namespace" not in o["metadata"], "the base leaves the namespace to -n or an overlay"
            assert matches(LABELS, o["metadata"].get("labels", {})), (o["kind"], o["metadata"])

    def validate(self, objs):
        node = shutil.which("node")
        if not node:
            return None, "no node (apt-get install nodejs)"
        rc, out, err = run([node, VALIDATE], input=json.dumps(objs), cwd=SRC)
        if rc == 2:
            return None, out.strip()
        return rc, out + err

    def test_objects_validate_against_the_schemas(self):
        objs = self.objects()
        if objs is None:
            return
        objs = objs + [load_yaml(os.path.join(KUBE, "secret.example.yaml"))]
        rc, out = self.validate(objs)
        if rc is None:
            print("SKIP schema validation: " + out)
            return
        assert rc == 0, out
        assert "%d of %d objects valid" % (len(objs), len(objs)) in out, out
        # broken copies are refused, each for its reason
        bad = json.loads(json.dumps(objs))
        by_kind = {o["kind"]: o for o in bad}
        c = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        c["readinessprobe"] = c.pop("readinessProbe")
        by_kind["Service"]["spec"]["ports"][0]["port"] = "ninety"
        by_kind["ServiceMonitor"]["spec"]["endpoints"][0]["scrapeTimeout"] = "10 seconds"
        del by_kind["PrometheusRule"]["spec"]["groups"][0]["rules"][0]["expr"]
        by_kind["PodDisruptionBudget"]["spec"]["minAvailabe"] = 1
        bad.append({"apiVersion": "v1", "kind": "NoSuchKind", "metadata": {"name": "x"}})
        rc, out = self.validate(bad)
        assert rc == 1, out
        for want in ("Deployment/resilience-exporter: unknown field spec.template.spec.containers.0.readinessprobe",
                     "Service/resilience-exporter: data/spec/ports/0/port must be integer",
                     "ServiceMonitor/resilience-exporter: data/spec/endpoints/0/scrapeTimeout must match pattern",
                     "PrometheusRule/resilience-exporter: data/spec/groups/0/rules/0 must have required property",
                     "PodDisruptionBudget/resilience-exporter: unknown field spec.minAvailabe",
                     "NoSuchKind/x: no schema"):
            assert want in out, "not refused: %s\n%s" % (want, out)

    # ------------------------------------------------------------ agreement with the repo
    def test_deployment(self):
        if self.objects() is None:
            return
        dep = self.one("Deployment")
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        [c] = pod["containers"]
        uid, port, config_path = dockerfile()
        assert spec["replicas"] == 2, "two replicas are the documented default"
        assert matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
        # non-root, read-only, nothing to escalate
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid, "not the image's USER %d" % uid
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, sc
        assert sc["capabilities"]["drop"] == ["ALL"], sc
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False, "service links would shadow ${REDIS_PORT} and friends"
        # the image: name and the project's version
        with open(os.path.join(SRC, "CMakeLists.txt")) as f:
            version = re.search(r"project\(resilience_exporter VERSION ([0-9.]+)", f.read()).group(1)
        assert c["image"] == "resilience_exporter:" + version, c["image"]
        # the port of the image and of the shipped config, probed on the right paths
        [p] = c["ports"]
        with open(INI) as f:
            ini = f.read()
        listen = re.search(r"^listen_address\s*=\s*\S*:(\d+)$", ini, re.M).group(1)
        assert p["containerPort"] == port == int(listen), (p, port, listen)
        assert c["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": p["name"]}, c["livenessProbe"]
        assert c["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": p["name"]}, c["readinessProbe"]
        # the config: the shipped file, byte for byte, where the image looks for it
        assert c["args"] == ["--config.file=" + config_path], c["args"]
        [mount] = c["volumeMounts"]
        [vol] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        cm = self.one("ConfigMap", vol["configMap"]["name"])
        assert set(cm["data"]) == {"resilience_exporter.ini"}, list(cm["data"])
        assert os.path.join(mount["mountPath"], "resilience_exporter.ini") == config_path, mount
        assert cm["data"]["resilience_exporter.ini"] == ini, "the ConfigMap is not etc/resilience_exporter.ini"
        # resources: set, requests within limits, and sized from the benchmark
        res = c["resources"]
        mib = lambda q: int(q[:-2]) if q.endswith("Mi") else None
        milli = lambda q: int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)
        assert mib(res["requests"]["memory"]) <= mib(res["limits"]["memory"]), res
        assert milli(res["requests"]["cpu"]) <= milli(res["limits"]["cpu"]), res
        with open(os.path.join(SRC, "docs", "benchmarks.md")) as f:
            bench = f.read()
        rss = max(bench_rss(bench))
        assert mib(res["limits"]["memory"]) >= 4 * rss, "memory limit %s is tight for an RSS of %.1f MiB" % (res, rss)
        with open(os.path.join(KUBE, "deployment.yaml")) as f:
            assert "docs/benchmarks.md" in f.read(), "say where the resource numbers come from"

    def test_environment_covers_the_config(self):
        """Every ${VAR} the shipped config needs comes from the env ConfigMap or the Secret,
        and secrets only from the Secret."""
        if self.objects() is None:
            return
        dep = self.one("Deployment")
        [c] = dep["spec"]["template"]["spec"]["containers"]
        refs = {next(iter(k for k in e if k.endswith("Ref"))): e for e in c["envFrom"]}
        env_cm = self.one("ConfigMap", refs["configMapRef"]["configMapRef"]["name"])["data"]
        assert refs["secretRef"]["secretRef"]["name"] == SECRET, refs
        assert not refs["secretRef"]["secretRef"].get("optional"), "a missing Secret must stop the pod"
        secret = load_yaml(os.path.join(KUBE, "secret.example.yaml"))
        assert secret["metadata"]["name"] == SECRET
        secret_keys = set(secret["stringData"])
        with open(INI) as f:
            ini = f.read()
        used = dict(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)(:-[^}]*)?\}", ini))
        required = {v for v, default in used.items() if not default}
        missing = required - set(env_cm) - secret_keys
        assert not missing, "the config needs %s, which neither the env ConfigMap nor the Secret gives" % missing
        unused = (set(env_cm) | secret_keys) - set(used)
        assert not unused, "given but not read by the config: %s" % unused
        secretish = {v for v in used if re.search(r"PASSWORD|API_KEY|SECRET|ACCESS_KEY", v)}
        assert not secretish & set(env_cm), "secrets in a ConfigMap: %s" % (secretish & set(env_cm))
        assert secretish <= secret_keys, secretish - secret_keys
        # an example, no secret: placeholders only (LocalStack's customary "test" keys aside)
        for k, v in secret["stringData"].items():
            assert v.startswith("EXAMPLE-ONLY-") or (k.startswith("AWS_") and v == "test"), (k, v)
        with open(os.path.join(KUBE, "kustomization.yaml")) as f:
            kust = yaml.safe_load(f)
        assert "secret.example.yaml" not in kust.get("resources", []), "apply -k would overwrite the real Secret"
        assert not [o for o in self.objects() if o["kind"] == "Secret"]

    def test_service_monitor_rules_budget(self):
        if self.objects() is None:
            return
        pod_labels = self.one("Deployment")["spec"]["template"]["metadata"]["labels"]
        svc = self.one("Service")
        assert matches(svc["spec"]["selector"], pod_labels)
        [sp] = svc["spec"]["ports"]
        assert sp["targetPort"] == "http" and sp["port"] == dockerfile()[1], sp
        sm = self.one("ServiceMonitor")
        assert matches(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
        [ep] = sm["spec"]["endpoints"]
        assert ep["port"] == sp["name"] and ep["path"] == "/metrics", ep
        # the job the alerts select: up{job="..."} in ResilienceExporterDown
        with open(os.path.join(PROM, "alerts.yml")) as f:
            jobs = set(re.findall(r'up\{job="([^"]+)"\}', f.read()))
        [relabel] = [r for r in ep["relabelings"] if r.get("targetLabel") == "job"]
        assert jobs == {relabel["replacement"]}, (jobs, relabel)
        # the same interval as the shipped scrape job
        staging = load_yaml(os.path.join(PROM, "prometheus.staging.yml"))
        [job] = [j for j in staging["scrape_configs"] if j["job_name"] in jobs]
        assert (ep["interval"], ep["scrapeTimeout"]) == (job["scrape_interval"], job["scrape_timeout"]), ep
        pdb = self.one("PodDisruptionBudget")
        assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
        assert 1 <= pdb["spec"]["minAvailable"] < self.one("Deployment")["spec"]["replicas"], pdb

    def test_network_policy(self):
        if self.objects() is None:
            return
        pod_labels = self.one("Deployment")["spec"]["template"]["metadata"]["labels"]
        np = self.one("NetworkPolicy")["spec"]
        assert matches(np["podSelector"]["matchLabels"], pod_labels)
        assert sorted(np["policyTypes"]) == ["Egress", "Ingress"]
        port = dockerfile()[1]
        for rule in np["ingress"]:
            assert rule["ports"] == [{"port": port, "protocol": "TCP"}], rule
        sources = [f["podSelector"]["matchLabels"] for r in np["ingress"] for f in r["from"]]
        assert {"app.kubernetes.io/name": "prometheus"} in sources, sources
        dns = [r for r in np["egress"] if any(p["port"] == 53 for p in r["ports"])]
        assert dns and {(p["port"], p["protocol"]) for r in dns for p in r["ports"]} == {(53, "UDP"), (53, "TCP")}, dns
        allowed = {p["port"] for r in np["egress"] for p in r["ports"] if p["protocol"] == "TCP"}
        # every dependency of the shipped config, at the endpoints the env ConfigMap gives
        env = self.one("ConfigMap", "resilience-exporter-env")["data"]
        wanted = {int(env["STAGING_DB_PORT"]), int(env["REDIS_PORT"])}
        for var in ("S3_ENDPOINT", "OPENAI_BASE_URL"):
            u = urllib.parse.urlsplit(env[var])
            wanted.add(u.port or {"http": 80, "https": 443}[u.scheme])
        assert wanted <= allowed, "egress lacks %s" % (wanted - allowed)


if __name__ == "__main__":
    Kubernetes().run()
