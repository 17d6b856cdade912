// validate.mjs: offline checks of Sluice's rendered Kubernetes manifests.
//
//   node validate.mjs --repo DIR [--verbose] [--selftest NAME]
//                     [--external NAME=FILE] NAME=RENDERED.yaml ...
//
// k8s/validate.sh renders each kustomize target (`kubectl kustomize`) and
// calls this with the results. For every target it checks:
//   1. schema: each object against the Kubernetes API schemas
//      (kubernetes-models, @kubernetes-models/keda for ScaledObject), plus
//      unknown fields, which those validators let through (lib/strict.mjs);
//   2. references: Services, Ingress backends, autoscaler targets, PDB
//      selectors, Secrets, ConfigMaps and claims all point at something;
//   3. pod policy: requests and limits, non-root read-only containers,
//      probes that match each role's health endpoints, grace periods that
//      cover each role's drain on SIGTERM, parse's memory ceiling;
//   4. sluiced settings: every SLUICE_* name is a setting the code reads and
//      its value parses; CURVE files exist where the settings point; KEDA
//      triggers read this stage's queue from the broker's metrics port;
//   5. network: a NetworkPolicy evaluator (lib/netpol.mjs) answers who may
//      reach whom, and the answers must match the intended flows;
// and, once, the Dockerfile's structure. --selftest NAME breaks the
// rendered target NAME in known ways and checks that each break is caught.
// Prints failures (every check with --verbose) and "N passed, N failed".
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { StrictFields } from "./lib/strict.mjs";
import { Network, inCidr } from "./lib/netpol.mjs";
import * as S from "./lib/sluice.mjs";
import { z85, keypair, secretCert, publicCert } from "./curve-keys.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = path.join(HERE, "node_modules");
const strict = new StrictFields(NODE_MODULES);
const NAMESPACED_EXEMPT = new Set(["Namespace"]);

// ---------------------------------------------------------------------------
// Reporting

class Report {
    constructor(verbose, quiet = false) {
        this.verbose = verbose;
        this.quiet = quiet;
        this.passed = 0;
        this.failed = 0;
        this.failures = [];
    }
    check(scope, subject, ok, message) {
        if (ok) {
            this.passed++;
            if (this.verbose && !this.quiet)
                console.log(`ok   ${scope}: ${subject}: ${message}`);
        }
        else {
            this.failed++;
            this.failures.push(`${subject}: ${message}`);
            if (!this.quiet)
                console.log(`FAIL ${scope}: ${subject}: ${message}`);
        }
        return ok;
    }
}

// ---------------------------------------------------------------------------
// Loading

function loadDocs(file) {
    const docs = [];
    for (const d of parseAllDocuments(fs.readFileSync(file, "utf8"))) {
        if (d.errors.length)
            throw new Error(`${file}: YAML error: ${d.errors[0].message}`);
        const js = d.toJS();
        if (js)
            docs.push(js);
    }
    return docs;
}

// external-secrets.txt: "NAME KEY KEY ...  # comment" per line
function loadExternal(file) {
    const out = new Map();
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        const words = line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
        if (words.length)
            out.set(words[0], new Set(words.slice(1)));
    }
    return out;
}

const id = (d) => `${d.kind}/${d.metadata?.name}`;

// ---------------------------------------------------------------------------
// 1. Schema

function schemaModule(apiVersion, kind) {
    if (apiVersion.startsWith("keda.sh/"))
        return `@kubernetes-models/keda/${apiVersion}/${kind}`;
    return `kubernetes-models/${apiVersion}/${kind}`;
}

async function schemaErrors(doc) {
    if (!doc.apiVersion || !doc.kind)
        return ["no apiVersion/kind"];
    const spec = schemaModule(doc.apiVersion, doc.kind);
    const dts = path.join(NODE_MODULES, `${spec}.d.ts`);
    if (!fs.existsSync(dts))
        return [`no schema known for ${doc.apiVersion} ${doc.kind}`];
    const mod = await import(spec);
    const Model = mod[doc.kind];
    const errors = [];
    try {
        new Model(JSON.parse(JSON.stringify(doc))).validate();
    }
    catch (e) {
        if (Array.isArray(e.errors))
            errors.push(...e.errors.map((x) => `${x.instancePath || "/"} ${x.message}`));
        else
            errors.push(String(e.message || e));
    }
    errors.push(...strict.check(doc, dts));
    return errors;
}

// ---------------------------------------------------------------------------
// Helpers over a rendered set

class Render {
    constructor(name, docs, external) {
        this.name = name;
        this.docs = docs;
        this.external = external || new Map();
    }
    all(kind) { return this.docs.filter((d) => d.kind === kind); }
    get(kind, name) { return this.docs.find((d) => d.kind === kind && d.metadata?.name === name); }
    get namespace() {
        const ns = this.all("Namespace");
        return ns.length === 1 ? ns[0].metadata.name : this.docs.find((d) => d.metadata?.namespace)?.metadata.namespace;
    }
    // Deployments and StatefulSets, and the batch work (CronJobs, Jobs):
    // for those, job is the Job spec and batch what its container does
    workloads() {
        return this.docs.filter((d) => ["Deployment", "StatefulSet", "CronJob", "Job"].includes(d.kind)).map((w) => {
            const job = w.kind === "CronJob" ? w.spec?.jobTemplate?.spec || {} : w.kind === "Job" ? w.spec || {} : null;
            const template = job ? job.template : w.spec?.template;
            const pod = template?.spec || {};
            const labels = template?.metadata?.labels || {};
            const namedPorts = {};
            for (const c of pod.containers || [])
                for (const p of c.ports || [])
                    if (p.name)
                        namedPorts[p.name] = p.containerPort;
            const args = (pod.containers || []).flatMap((ct) => [...(ct.command || []), ...(ct.args || [])]);
            const batch = !job ? null : args.includes("--reembed") ? "reembed"
                        : args.some((a) => /(^|\/)sluice$/.test(a)) && args.includes("ingest") ? "ingest"
                        : args.some((a) => /(^|\/)sluice$/.test(a)) && args.includes("sync") ? "sync" : "other";
            return { w, pod, labels, namedPorts, ns: w.metadata.namespace, component: labels["app.kubernetes.io/component"],
                     job, batch };
        });
    }
    // Keys of a Secret: rendered (stringData + data) or declared external
    secretKeys(name) {
        const s = this.get("Secret", name);
        if (s)
            return new Set([...Object.keys(s.stringData || {}), ...Object.keys(s.data || {})]);
        return this.external.get(name) || null;
    }
    secretValue(name, key) {
        const s = this.get("Secret", name);
        if (!s)
            return undefined;
        if (s.stringData && key in s.stringData)
            return String(s.stringData[key]);
        if (s.data && key in s.data)
            return Buffer.from(s.data[key], "base64").toString("utf8");
        return undefined;
    }
}

function isSluiced(container) {
    const image = String(container.image || "");
    const repo = image.split("@")[0].replace(/:[^/:]*$/, "");
    return repo.split("/").pop() === "sluice";
}

// The settings a sluiced container runs with: ConfigMap/Secret envFrom,
// env (later wins), then the command line (--role, --broker, --data, --set).
function effective(render, container, known) {
    const cfg = new Map();
    const names = [];                // [env name, value or null, where]
    const secretRefs = [];
    for (const ef of container.envFrom || []) {
        const prefix = ef.prefix || "";
        if (ef.configMapRef) {
            const cm = render.get("ConfigMap", ef.configMapRef.name);
            for (const [k, v] of Object.entries(cm?.data || {}))
                names.push([prefix + k, String(v), `ConfigMap ${ef.configMapRef.name}`]);
        }
        if (ef.secretRef) {
            secretRefs.push(ef.secretRef.name);
            for (const k of render.secretKeys(ef.secretRef.name) || [])
                names.push([prefix + k, render.secretValue(ef.secretRef.name, k) ?? null, `Secret ${ef.secretRef.name}`]);
        }
    }
    for (const e of container.env || [])
        names.push([e.name, e.value !== undefined ? String(e.value) : null, "env"]);
    for (const [name, value] of names) {
        const key = S.envToKey(name);
        if (key)
            cfg.set(key, value);
    }
    const args = container.args || [];
    const flags = { role: "--role", "broker.endpoint": "--broker", "data.dir": "--data", "broker.events": "--events" };
    for (let i = 0; i < args.length; i++) {
        for (const [key, flag] of Object.entries(flags))
            if (args[i] === flag)
                cfg.set(key, args[i + 1]);
        if (args[i] === "--set" && args[i + 1]?.includes("=")) {
            const [k, ...v] = args[i + 1].split("=");
            cfg.set(k, v.join("="));
        }
    }
    const get = (key) => (cfg.has(key) ? cfg.get(key) : S.DEFAULTS[key]);
    const roles = String(cfg.get("role") || "all").split(",");
    return { cfg, names, secretRefs, get, roles, args };
}

function probePort(probe, namedPorts) {
    const p = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
    return typeof p === "string" ? namedPorts[p] : p;
}

function resourceOk(c) {
    const r = c.resources || {};
    return ["cpu", "memory"].every((k) => r.requests?.[k] !== undefined && r.limits?.[k] !== undefined);
}

// ---------------------------------------------------------------------------
// The checks of one rendered target

async function checkTarget(render, opts, report) {
    const scope = render.name;
    const c = (subject, ok, message) => report.check(scope, subject, ok, message);
    const ns = render.namespace;
    const known = opts.settings;

    // ---- 1. schema, namespace
    for (const doc of render.docs) {
        const errors = await schemaErrors(doc);
        c(id(doc), errors.length === 0, errors.length ? `schema: ${errors.slice(0, 5).join("; ")}` : "valid against the API schema");
        if (!NAMESPACED_EXEMPT.has(doc.kind))
            c(id(doc), doc.metadata?.namespace === ns, `namespace is ${doc.metadata?.namespace} (expected ${ns})`);
    }
    c("Namespace", render.all("Namespace").length === 1, "exactly one Namespace is rendered");
    const nsDoc = render.all("Namespace")[0];
    c("Namespace", nsDoc?.metadata?.labels?.["pod-security.kubernetes.io/enforce"] === "restricted",
      "enforces the restricted Pod Security profile");

    const workloads = render.workloads();
    const batchOf = (w) => workloads.find((x) => x.w === w)?.batch;
    const byName = new Map(workloads.map((x) => [x.w.metadata.name, x]));
    const podsMatching = (selector) => workloads.filter((x) => Object.entries(selector || {}).length
        && Object.entries(selector).every(([k, v]) => x.labels[k] === v));

    // ---- 2. references
    for (const { w, labels, job } of workloads) {
        if (job)
            continue;               // a Job's selector is the API server's
        const sel = w.spec?.selector?.matchLabels || {};
        c(id(w), Object.entries(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v),
          "selector matches its pod template's labels");
    }
    for (const svc of render.all("Service")) {
        const pods = podsMatching(svc.spec?.selector);
        // the one exception: a Service over both brokers of a pair, which
        // only the active one (ready) answers
        const pairSvc = pods.length === 2 && pods.every((p) => p.component === "broker");
        c(id(svc), pods.length === 1 || pairSvc, `selects the pods of exactly one workload, or both brokers of the pair (found ${pods.map((p) => p.w.metadata.name).join(", ") || "none"})`);
        for (const p of svc.spec?.ports || []) {
            const target = p.targetPort ?? p.port;
            const ok = pods.length > 0 && pods.every((x) => typeof target === "string" ? target in x.namedPorts
                : Object.values(x.namedPorts).includes(target)
                  || (x.pod.containers || []).some((ct) => (ct.ports || []).some((cp) => cp.containerPort === target)));
            c(id(svc), ok, `port ${p.name || p.port} -> targetPort ${target} exists on the selected pods`);
        }
    }
    for (const ing of render.all("Ingress")) {
        for (const rule of ing.spec?.rules || [])
            for (const p of rule.http?.paths || []) {
                const b = p.backend?.service;
                const svc = b && render.get("Service", b.name);
                const ok = svc && (svc.spec.ports || []).some((sp) => (b.port?.name && sp.name === b.port.name) || (b.port?.number && sp.port === b.port.number));
                c(id(ing), !!ok, `backend ${b?.name}:${b?.port?.name ?? b?.port?.number} is a rendered Service port`);
            }
        for (const t of ing.spec?.tls || [])
            c(id(ing), !!render.secretKeys(t.secretName), `TLS Secret ${t.secretName} is rendered or declared external`);
    }
    const autoscaled = new Map();
    for (const hpa of render.all("HorizontalPodAutoscaler")) {
        const t = hpa.spec?.scaleTargetRef;
        c(id(hpa), t?.kind === "Deployment" && byName.has(t.name), `scales a rendered Deployment (${t?.name})`);
        autoscaled.set(t?.name, [...(autoscaled.get(t?.name) || []), { min: hpa.spec.minReplicas ?? 1, by: id(hpa) }]);
    }
    for (const so of render.all("ScaledObject")) {
        const t = so.spec?.scaleTargetRef;
        c(id(so), (t?.kind ?? "Deployment") === "Deployment" && byName.has(t?.name), `scales a rendered Deployment (${t?.name})`);
        autoscaled.set(t?.name, [...(autoscaled.get(t?.name) || []), { min: so.spec.minReplicaCount ?? 0, by: id(so) }]);
    }
    for (const [name, list] of autoscaled) {
        c(`Deployment/${name}`, list.length === 1, `has one autoscaler (${list.map((l) => l.by).join(", ")})`);
        const w = byName.get(name)?.w;
        c(`Deployment/${name}`, w && w.spec.replicas === undefined,
          "leaves spec.replicas unset: the autoscaler owns it, and `kubectl apply` would reset it");
    }
    const minReplicas = (w) => {
        const a = autoscaled.get(w.metadata.name);
        return a ? Math.max(...a.map((x) => x.min)) : (w.spec.replicas ?? 1);
    };
    const pdbs = render.all("PodDisruptionBudget");
    for (const pdb of pdbs) {
        const pods = podsMatching(pdb.spec?.selector?.matchLabels);
        c(id(pdb), pods.length === 1, "selects the pods of exactly one workload");
        c(id(pdb), pdb.spec.minAvailable === undefined && Number(pdb.spec.maxUnavailable) >= 1,
          "uses maxUnavailable >= 1, so it can never block a node drain");
    }
    for (const { w } of workloads) {
        if (w.kind !== "Deployment")
            continue;
        const min = minReplicas(w);
        const has = pdbs.some((p) => podsMatching(p.spec?.selector?.matchLabels).some((x) => x.w === w));
        c(id(w), min <= 1 || has, min <= 1 ? `runs ${min} replica at least: no PodDisruptionBudget needed` : `runs ${min} replicas at least, so it has a PodDisruptionBudget`);
    }
    for (const { w, pod } of workloads) {
        for (const v of pod.volumes || []) {
            if (v.persistentVolumeClaim)
                c(id(w), !!render.get("PersistentVolumeClaim", v.persistentVolumeClaim.claimName),
                  `claim ${v.persistentVolumeClaim.claimName} is rendered`);
            if (v.secret) {
                const keys = render.secretKeys(v.secret.secretName);
                c(id(w), !!keys, `Secret ${v.secret.secretName} (volume ${v.name}) is rendered or declared external`);
            }
            if (v.configMap)
                c(id(w), !!render.get("ConfigMap", v.configMap.name), `ConfigMap ${v.configMap.name} is rendered`);
        }
        for (const ct of [...(pod.containers || []), ...(pod.initContainers || [])]) {
            for (const ef of ct.envFrom || []) {
                if (ef.configMapRef)
                    c(id(w), !!render.get("ConfigMap", ef.configMapRef.name), `ConfigMap ${ef.configMapRef.name} is rendered`);
                if (ef.secretRef)
                    c(id(w), !!render.secretKeys(ef.secretRef.name), `Secret ${ef.secretRef.name} is rendered or declared external`);
            }
            for (const e of ct.env || []) {
                const ref = e.valueFrom?.secretKeyRef;
                if (ref) {
                    const keys = render.secretKeys(ref.name);
                    c(id(w), !!keys && keys.has(ref.key), `Secret ${ref.name} has key ${ref.key}`);
                }
            }
        }
    }
    if (opts.overlay) {
        for (const s of render.all("Secret")) {
            const values = [...Object.values(s.stringData || {}), ...Object.values(s.data || {}).map((v) => Buffer.from(v, "base64").toString())];
            c(id(s), !values.some((v) => /CHANGE-ME/.test(String(v))), "holds no template placeholder (CHANGE-ME)");
        }
    }
    if (opts.pinned) {
        for (const { w, pod } of workloads)
            for (const ct of pod.containers || []) {
                const tag = /:([^/:@]+)$/.exec(ct.image || "")?.[1];
                c(id(w), /@sha256:/.test(ct.image) || (!!tag && !["latest", "dev"].includes(tag)),
                  `image ${ct.image} is pinned to a release tag or digest`);
            }
    }

    // ---- 3. pod policy
    for (const { w, pod } of workloads) {
        const psc = pod.securityContext || {};
        c(id(w), pod.automountServiceAccountToken === false, "does not mount a service account token (no pod talks to the API)");
        c(id(w), !pod.hostNetwork && !pod.hostPID && !pod.hostIPC, "shares no host namespace");
        c(id(w), (pod.volumes || []).every((v) => v.persistentVolumeClaim || v.emptyDir || v.secret || v.configMap || v.projected || v.downwardAPI),
          "uses only volume types the restricted profile allows");
        c(id(w), Number.isInteger(pod.terminationGracePeriodSeconds), "sets terminationGracePeriodSeconds");
        for (const ct of pod.containers || []) {
            const sc = ct.securityContext || {};
            const who = `${id(w)} container ${ct.name}`;
            c(who, resourceOk(ct), "has cpu and memory requests and limits");
            if (resourceOk(ct)) {
                const r = ct.resources;
                c(who, S.cpuMillis(r.requests.cpu) <= S.cpuMillis(r.limits.cpu)
                    && S.quantityBytes(r.requests.memory) <= S.quantityBytes(r.limits.memory), "requests do not exceed limits");
            }
            c(who, (sc.runAsNonRoot ?? psc.runAsNonRoot) === true && (sc.runAsUser ?? psc.runAsUser) !== 0, "runAsNonRoot, not uid 0");
            c(who, sc.readOnlyRootFilesystem === true, "readOnlyRootFilesystem: true");
            c(who, sc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation: false");
            c(who, !sc.privileged && (sc.capabilities?.drop || []).includes("ALL") && !(sc.capabilities?.add || []).length,
              "drops ALL capabilities and adds none");
            const seccomp = sc.seccompProfile?.type ?? psc.seccompProfile?.type;
            c(who, seccomp === "RuntimeDefault" || seccomp === "Localhost", "has a seccomp profile (RuntimeDefault)");
            if (!batchOf(w))
                c(who, !!ct.livenessProbe && !!ct.readinessProbe, "has a liveness and a readiness probe");
            c(who, (ct.volumeMounts || []).some((m) => m.mountPath === "/tmp"), "mounts a writable /tmp (the root filesystem is read-only)");
        }
    }

    // ---- 3b. batch work: runs to an end, fails for a reason, never piles up
    for (const x of workloads.filter((x) => x.job)) {
        const { w, pod, job, batch } = x;
        const who = id(w);
        c(who, w.kind === "CronJob", "is a CronJob (a Job's pod template is immutable: a Job in the render breaks the next apply)");
        if (w.kind === "CronJob") {
            c(who, w.spec.concurrencyPolicy === "Forbid", "concurrencyPolicy Forbid: two runs never overlap");
            c(who, Number(w.spec.startingDeadlineSeconds) > 0, "has startingDeadlineSeconds (a missed start is not run hours late)");
            c(who, w.spec.successfulJobsHistoryLimit !== undefined && w.spec.failedJobsHistoryLimit !== undefined,
              "keeps a bounded history of runs");
        }
        c(who, ["Never", "OnFailure"].includes(pod.restartPolicy), `restartPolicy ${pod.restartPolicy} (Never or OnFailure)`);
        c(who, Number.isInteger(job.backoffLimit) && job.backoffLimit >= 1, `backoffLimit ${job.backoffLimit}: a lost pod is retried`);
        c(who, Number(job.activeDeadlineSeconds) > 0, "has activeDeadlineSeconds: a stuck run ends as failed");
        c(who, Number(job.ttlSecondsAfterFinished) > 0, "has ttlSecondsAfterFinished: finished Jobs do not pile up");
        c(who, batch !== "other", "runs `sluice ingest`, `sluice sync` or `sluiced --reembed`");
        const ct = (pod.containers || [])[0] || {};
        const env = Object.fromEntries((ct.env || []).map((e) => [e.name, e]));
        if (batch === "ingest" || batch === "sync") {
            const args = ct.args || [];
            c(who, args.includes("--wait"), "runs with --wait: the Job ends when the documents' jobs (or the run) end");
            const rule = (job.podFailurePolicy?.rules || []).find((r) => r.action === "FailJob");
            const codes = new Set(rule?.onExitCodes?.operator === "In" ? rule.onExitCodes.values : []);
            c(who, pod.restartPolicy === "Never" && [1, 2, 4].every((n) => codes.has(n)) && !codes.has(3) && !codes.has(5),
              "a failed or refused document (exit 1, 2, 4) fails the Job at once; an unreachable or busy edge (3, 5) is retried");
            const edgeSvc = render.get("Service", "sluice-edge");
            const port = (edgeSvc?.spec?.ports || []).map((p) => p.port);
            const m = /^http:\/\/sluice-edge(?:\.[a-z0-9.-]+)?(?::(\d+))?$/.exec(env.SLUICE_SERVER?.value || "");
            c(who, !!m && port.includes(Number(m[1] ?? 80)), `SLUICE_SERVER ${env.SLUICE_SERVER?.value} is the edge Service (ports ${port.join(", ")})`);
            const ref = env.SLUICE_KEY?.valueFrom?.secretKeyRef;
            c(who, !!ref && !!render.secretKeys(ref.name)?.has(ref.key), "SLUICE_KEY comes from a Secret");
            c(who, x.labels["sluice.io/edge-client"] === "true" && x.labels["sluice.io/broker-client"] !== "true"
                && x.labels["sluice.io/db-client"] !== "true",
              "is labelled sluice.io/edge-client only (it talks HTTP to the edge, nothing else)");
            if (batch === "ingest") {
                const input = (ct.volumeMounts || []).find((vm) => args.includes(vm.mountPath));
                c(who, !!input && input.readOnly === true, `reads its input (${input?.mountPath}) from a read-only mount`);
            }
        }
        if (batch === "reembed") {
            const eff = effective(render, ct, known);
            const hasUrl = eff.secretRefs.some((n) => render.secretKeys(n)?.has("SLUICE_STORE_URL"));
            c(who, hasUrl && x.labels["sluice.io/db-client"] === "true", "gets store.url from a Secret and is labelled sluice.io/db-client");
            c(who, x.labels["sluice.io/broker-client"] !== "true" && !(ct.args || []).includes("--role"),
              "runs no role and needs no broker");
            c(who, env.OPENBLAS_NUM_THREADS?.value === "1", "sets OPENBLAS_NUM_THREADS=1 (it embeds)");
            for (const [name, value, where] of eff.names) {
                if (!name.startsWith("SLUICE_"))
                    continue;
                const key = S.envToKey(name);
                const kind = key && known.keys.get(key);
                c(who, !!kind || known.getenv.has(name), `${name} (${where}) is a setting sluiced reads${key ? ` (${key})` : ""}`);
            }
        }
    }

    // ---- 4. sluiced settings and roles
    const sluiced = [];
    for (const x of workloads.filter((x) => !x.job))
        for (const ct of x.pod.containers || [])
            if (isSluiced(ct))
                sluiced.push({ ...x, ct, eff: effective(render, ct, known) });
    const brokerSvc = render.get("Service", "sluice-broker");
    const brokers = sluiced.filter((s) => s.eff.roles.includes("broker"));
    c("sluiced", brokers.length === 1 || brokers.length === 2,
      `one workload runs the broker role, or two as a pair (found ${brokers.length})`);
    const broker = brokers[0];
    // A pair (broker/sl_bstar.h): a primary and a backup, each following
    // the other's state through the other's own Service, never on one node;
    // every peer is given both brokers' Services
    const pair = brokers.length === 2;
    const brokerSvcOf = (b) => render.all("Service").find((x) => x.metadata.name !== "sluice-broker"
        && podsMatching(x.spec?.selector).some((p) => p.w === b.w));
    const statePort = (b) => Number(/:(\d+)$/.exec(String(b.eff.cfg.get("broker.state_bind") || ""))?.[1]);
    if (pair) {
        const roles = brokers.map((b) => b.eff.cfg.get("broker.pair")).sort();
        c("sluiced", roles[0] === "backup" && roles[1] === "primary", `the two brokers are broker.pair primary and backup (${roles.join(", ")})`);
        for (const [b, o] of [[brokers[0], brokers[1]], [brokers[1], brokers[0]]]) {
            const svc = brokerSvcOf(o);
            const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(String(b.eff.cfg.get("broker.peer") || ""));
            c(id(b.w), !!svc && !!m && m[1] === svc.metadata.name && Number(m[2]) === statePort(o)
                && (svc.spec.ports || []).some((p) => p.port === statePort(o)),
              `broker.peer ${b.eff.cfg.get("broker.peer")} is the other broker's Service and state port`);
            c(id(b.w), !!svc?.spec?.publishNotReadyAddresses,
              `its Service ${svc?.metadata?.name} publishes not-ready addresses (a passive broker must be reachable)`);
            const anti = b.pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution || [];
            c(id(b.w), anti.some((t) => t.topologyKey === "kubernetes.io/hostname"
                && Object.entries(t.labelSelector?.matchLabels || {}).every(([k, v]) => o.labels[k] === v)),
              "podAntiAffinity (required, kubernetes.io/hostname) keeps it off the other broker's node");
        }
    }
    const brokerEndpoint = (ep) => {
        const list = String(ep).split(",");
        const svcs = pair ? brokers.map(brokerSvcOf) : [brokerSvc];
        return list.length === svcs.length && list.every((e, i) => {
            const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(e);
            const ports = (svcs[i]?.spec?.ports || []).map((p) => p.port);
            return !!m && m[1] === svcs[i]?.metadata?.name && ports.includes(Number(m[2])) && ports.includes(Number(m[2]) + 1);
        });
    };
    const blobClaims = new Set();
    for (const s of sluiced) {
        const { w, pod, ct, eff, namedPorts } = s;
        const who = id(w);
        const roles = eff.roles;
        // every SLUICE_* name is a setting, and its value parses
        for (const [name, value, where] of eff.names) {
            if (!name.startsWith("SLUICE_"))
                continue;
            const key = S.envToKey(name);
            const kind = key && known.keys.get(key);
            c(who, !!kind || known.getenv.has(name), `${name} (${where}) is a setting sluiced reads${key ? ` (${key})` : ""}`);
            if (kind && value !== null)
                c(who, S.parses(kind, value), `${name}=${value} parses as sluiced's ${kind} setting`);
        }
        c(who, !pod.enableServiceLinks && pod.enableServiceLinks === false,
          "enableServiceLinks: false (Service variables such as SLUICE_BROKER_PORT would be read as settings)");
        const unknownRoles = roles.filter((r) => !opts.roles.has(r));
        c(who, roles.length > 0 && !roles.includes("all") && unknownRoles.length === 0,
          `--role names known roles (${roles.join(",")})`);
        const isBroker = roles.includes("broker");
        if (!isBroker) {
            const ep = String(eff.get("broker.endpoint") || "");
            c(who, brokerEndpoint(ep),
              `--broker ${ep} is the broker Service (each broker's, primary first, for a pair), with the event port (+1) beside it`);
            c(who, s.labels["sluice.io/broker-client"] === "true", "is labelled sluice.io/broker-client (NetworkPolicy)");
        }
        // the data folder
        const data = eff.get("data.dir");
        const dataMount = (ct.volumeMounts || []).find((m) => m.mountPath === data);
        const dataVol = dataMount && (pod.volumes || []).find((v) => v.name === dataMount.name);
        c(who, data === "/data" && !!dataVol, `--data ${data} is a mounted volume`);
        if (roles.some((r) => S.BLOB_ROLES.has(r))) {
            const claim = dataVol?.persistentVolumeClaim?.claimName;
            const pvc = claim && render.get("PersistentVolumeClaim", claim);
            c(who, !!pvc && (pvc.spec.accessModes || []).includes("ReadWriteMany"),
              `the blob area (${claim}) is a ReadWriteMany claim, shared by every pod that needs it`);
            blobClaims.add(claim);
        }
        if (isBroker) {
            const claim = dataVol?.persistentVolumeClaim?.claimName;
            c(who, !!claim, "keeps broker.snapshot on a persistent volume");
            c(who, w.spec.replicas === 1 && w.spec.strategy?.type === "Recreate",
              "one broker (replicas 1, strategy Recreate): two must never run at once");
        }
        // the database
        const needsDb = roles.some((r) => S.DB_ROLES.has(r));
        const hasUrl = eff.cfg.has("store.url") || eff.secretRefs.some((n) => render.secretKeys(n)?.has("SLUICE_STORE_URL"));
        c(who, needsDb === hasUrl, needsDb ? "gets store.url (SLUICE_STORE_URL) from a Secret" : "gets no database URL (it has no use for one)");
        c(who, needsDb === (s.labels["sluice.io/db-client"] === "true"),
          `is ${needsDb ? "" : "not "}labelled sluice.io/db-client (NetworkPolicy to the database)`);
        const url = eff.cfg.get("store.url");
        if (needsDb && url)
            c(who, /^postgres(ql)?:\/\//.test(url), "store.url is a PostgreSQL URL (SQLite cannot be shared between pods)");
        // probes against the role's own endpoints
        const hasWorkers = roles.some((r) => S.WORKER_ROLES.has(r));
        const lp = ct.livenessProbe, rp = ct.readinessProbe;
        if (isBroker) {
            const port = Number(eff.get("broker.metrics_port"));
            c(who, probePort(lp, namedPorts) === port && probePort(rp, namedPorts) === port
                && ["/healthz", "/stats.json"].includes(lp?.httpGet?.path)
                && rp?.httpGet?.path === (pair ? "/readyz" : "/stats.json"),
              `probes the broker's metrics port ${port} (/stats.json answers only if the router loop does${pair ? "; /readyz only on the active broker" : ""})`);
        }
        else if (roles.includes("edge")) {
            const port = Number(eff.get("http.port"));
            c(who, probePort(lp, namedPorts) === port && lp?.httpGet?.path === "/healthz"
                && probePort(rp, namedPorts) === port && rp?.httpGet?.path === "/readyz",
              `probes the edge: /healthz (alive) and /readyz (broker, intake, query, store) on http.port ${port}`);
            c(who, !["127.0.0.1", "localhost", "::1", "[::1]"].includes(eff.get("http.bind")),
              `http.bind ${eff.get("http.bind")} is reachable from the Service`);
            const sleep = ct.lifecycle?.preStop?.exec?.command;
            const secs = Array.isArray(sleep) && /sleep$/.test(sleep[0]) ? Number(sleep[1]) : NaN;
            c(who, secs >= 1, "has a preStop sleep, so endpoints drop the pod before it stops accepting");
            c(who, pod.terminationGracePeriodSeconds >= (secs || 0) + Number(eff.get("http.timeout_s")),
              `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} >= preStop ${secs} s + http.timeout_s ${eff.get("http.timeout_s")} s`);
        }
        else if (hasWorkers) {
            const port = Number(eff.get("worker.health_port"));
            c(who, probePort(lp, namedPorts) === port && lp?.httpGet?.path === "/healthz"
                && probePort(rp, namedPorts) === port && rp?.httpGet?.path === "/readyz",
              `probes worker.health_port ${port}: /healthz (loop alive), /readyz (connected to the broker)`);
        }
        // drain on SIGTERM
        if (hasWorkers) {
            const drainMs = Number(eff.get("worker.drain_timeout_ms"));
            c(who, pod.terminationGracePeriodSeconds >= drainMs / 1000 + 30,
              `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} >= worker.drain_timeout_ms ${drainMs / 1000} s + 30`);
            if (roles.includes("parse")) {
                const maxS = Number(eff.get("parse.max_seconds"));
                c(who, pod.terminationGracePeriodSeconds >= maxS + 30,
                  `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} >= parse.max_seconds ${maxS} + 30`);
                c(who, drainMs >= maxS * 1000, `worker.drain_timeout_ms ${drainMs} lets a document run its parse.max_seconds (${maxS} s)`);
                const perDoc = S.sizeBytes(eff.get("parse.max_memory"));
                const conc = Number(eff.get("parse.concurrency") ?? opts.roles.get("parse"));
                const limit = S.quantityBytes(ct.resources?.limits?.memory);
                c(who, limit >= perDoc * conc + 256 * 2 ** 20,
                  `memory limit ${ct.resources?.limits?.memory} >= parse.max_memory ${eff.get("parse.max_memory")} x concurrency ${conc} + 256Mi`);
            }
            if (roles.includes("fetch")) {
                const total = Number(eff.get("fetch.total_timeout_ms"));
                c(who, drainMs >= total, `worker.drain_timeout_ms ${drainMs} lets a download run its fetch.total_timeout_ms (${total})`);
            }
        }
        else
            c(who, pod.terminationGracePeriodSeconds >= 30, "terminationGracePeriodSeconds >= 30");
        if (roles.some((r) => S.BLAS_ROLES.has(r)))
            c(who, (ct.env || []).some((e) => e.name === "OPENBLAS_NUM_THREADS" && e.value === "1"),
              "sets OPENBLAS_NUM_THREADS=1 (OpenBLAS sizes its pool to the node, not the CPU limit)");
        // ports the image declares
        if (opts.exposed)
            for (const p of ct.ports || [])
                c(who, opts.exposed.has(p.containerPort), `port ${p.containerPort} is EXPOSEd by the Dockerfile`);
        // KEDA for the pipeline stages
        const stage = roles.length === 1 && S.STAGES.includes(roles[0]) ? roles[0] : null;
        if (stage) {
            const so = render.all("ScaledObject").find((x) => x.spec?.scaleTargetRef?.name === w.metadata.name);
            c(who, !!so, "is scaled by a KEDA ScaledObject on its queue");
            if (so) {
                const metricsPort = broker ? Number(broker.eff.get("broker.metrics_port")) : 9101;
                const url = new RegExp(`^http://sluice-broker\\.${ns}\\.svc(\\.cluster\\.local)?:${metricsPort}/stats\\.json$`);
                const trig = so.spec.triggers || [];
                for (const t of trig) {
                    c(id(so), t.type === "metrics-api" && url.test(t.metadata?.url || ""),
                      `trigger ${t.name}: metrics-api on http://sluice-broker.${ns}.svc:${metricsPort}/stats.json (got ${t.metadata?.url})`);
                    c(id(so), Number(t.metadata?.targetValue) > 0, `trigger ${t.name}: targetValue ${t.metadata?.targetValue} is a positive number`);
                    c(id(so), (t.metadata?.format ?? "json") === "json", `trigger ${t.name}: format json`);
                }
                const loc = (field) => trig.find((t) => t.metadata?.valueLocation === `services.${stage}.${field}`);
                c(id(so), !!loc("queued"), `reads services.${stage}.queued (this stage's queue)`);
                const inflight = loc("inflight");
                const conc = Number(eff.get(`${stage}.concurrency`) ?? opts.roles.get(stage));
                c(id(so), !!inflight && Number(inflight.metadata.targetValue) === conc,
                  `reads services.${stage}.inflight with targetValue = ${stage}.concurrency (${conc}): replicas never drop below the busy ones`);
                c(id(so), trig.every((t) => !/^services\./.test(t.metadata?.valueLocation || "") || t.metadata.valueLocation.startsWith(`services.${stage}.`)),
                  `every valueLocation names this stage (services.${stage}.*)`);
                c(id(so), (so.spec.minReplicaCount ?? 0) >= 1,
                  "minReplicaCount >= 1 (a service with no worker may be absent from /stats.json)");
                c(id(so), (so.spec.maxReplicaCount ?? 100) >= (so.spec.minReplicaCount ?? 0), "maxReplicaCount >= minReplicaCount");
                const metricsSvcPort = (brokerSvc?.spec?.ports || []).some((p) => p.port === metricsPort);
                c(id(so), metricsSvcPort, `the broker Service exposes the metrics port ${metricsPort}`);
            }
        }
    }
    c("sluiced", blobClaims.size <= 1, `every pod shares one blob area (claims: ${[...blobClaims].join(", ")})`);
    for (const stage of S.STAGES)
        c("sluiced", sluiced.some((s) => s.eff.roles.length === 1 && s.eff.roles[0] === stage), `a Deployment runs the ${stage} stage on its own`);
    for (const role of ["edge", "intake", "journal", "query"])
        c("sluiced", sluiced.some((s) => s.eff.roles.includes(role)), `some workload runs the ${role} role`);
    const edge = sluiced.find((s) => s.eff.roles.includes("edge"));
    if (edge) {
        c(id(edge.w), render.all("HorizontalPodAutoscaler").some((h) => h.spec?.scaleTargetRef?.name === edge.w.metadata.name),
          "the edge is scaled by a HorizontalPodAutoscaler");
        const upload = S.sizeBytes(edge.eff.get("http.max_upload"));
        for (const ing of render.all("Ingress")) {
            const size = ing.metadata?.annotations?.["nginx.ingress.kubernetes.io/proxy-body-size"];
            c(id(ing), size !== undefined && S.nginxBytes(size) >= upload,
              `proxy-body-size ${size} admits http.max_upload (${edge.eff.get("http.max_upload")})`);
        }
    }
    // CURVE: files where the settings point, on both sides or neither
    const curveFile = (s, key) => {
        const p = s.eff.cfg.get(key);
        if (!p)
            return null;
        const dir = path.posix.dirname(p), base = path.posix.basename(p);
        const m = (s.ct.volumeMounts || []).find((vm) => vm.mountPath === dir && !vm.subPath);
        const v = m && (s.pod.volumes || []).find((x) => x.name === m.name);
        const keys = v?.secret && render.secretKeys(v.secret.secretName);
        const items = v?.secret?.items;
        return !!keys && (items ? items.some((i) => i.path === base && keys.has(i.key)) : keys.has(base));
    };
    for (const b of brokers.slice(1))
        c(id(b.w), !!b.eff.cfg.get("curve.broker_secret") === !!broker.eff.cfg.get("curve.broker_secret")
            && b.eff.cfg.get("curve.broker_secret") === broker.eff.cfg.get("curve.broker_secret")
            && /^(1|true|yes|on)$/i.test(b.eff.cfg.get("broker.insecure") || "") === /^(1|true|yes|on)$/i.test(broker.eff.cfg.get("broker.insecure") || ""),
          "has the same CURVE and broker.insecure settings as the other broker (peers know one broker key)");
    if (broker && broker.eff.cfg.get("curve.broker_secret")) {
        c(id(broker.w), curveFile(broker, "curve.broker_secret"), `curve.broker_secret ${broker.eff.cfg.get("curve.broker_secret")} is a key of a mounted Secret`);
        // curve.clients_dir is the old name of curve.workers_dir
        const dir = broker.eff.cfg.get("curve.workers_dir") ?? broker.eff.cfg.get("curve.clients_dir");
        const m = dir && (broker.ct.volumeMounts || []).find((vm) => vm.mountPath === dir);
        const v = m && (broker.pod.volumes || []).find((x) => x.name === m.name);
        c(id(broker.w), (!!v?.secret && !!render.secretKeys(v.secret.secretName)) || !!broker.eff.cfg.get("curve.worker_keys"),
          `curve.workers_dir ${dir} is a mounted Secret of worker public certificates (or curve.worker_keys is set)`);
    }
    const curveOn = !!broker?.eff.cfg.get("curve.broker_secret");
    // Closed by default: sluiced refuses to bind beyond loopback without
    // CURVE unless broker.insecure says so (the base leaves that to overlays)
    if (broker && opts.overlay) {
        const bind = broker.eff.cfg.get("broker.bind") || "tcp://*:5555";
        const events = broker.eff.cfg.get("broker.events_bind") || bind;
        const insecure = /^(1|true|yes|on)$/i.test(broker.eff.cfg.get("broker.insecure") || "");
        const local = [bind, events].every(S.endpointLocal);
        c(id(broker.w), local || curveOn || insecure,
          `binds ${bind} with CURVE or broker.insecure (sluiced refuses a public bind without CURVE)`);
        c(id(broker.w), !(curveOn && insecure), "does not set broker.insecure beside CURVE");
    }
    for (const s of sluiced) {
        if (brokers.includes(s))
            continue;
        const has = !!s.eff.cfg.get("curve.client_cert") && !!s.eff.cfg.get("curve.broker_public");
        c(id(s.w), has === curveOn, curveOn ? "has curve.client_cert and curve.broker_public (the broker requires CURVE)"
                                            : "has no CURVE client settings (the broker runs without CURVE)");
        if (has) {
            c(id(s.w), curveFile(s, "curve.client_cert"), `curve.client_cert ${s.eff.cfg.get("curve.client_cert")} is a key of a mounted Secret`);
            c(id(s.w), curveFile(s, "curve.broker_public"), `curve.broker_public ${s.eff.cfg.get("curve.broker_public")} is a key of a mounted Secret`);
        }
    }

    // ---- 5. network
    const policies = render.all("NetworkPolicy");
    c("NetworkPolicy", policies.some((p) => Object.keys(p.spec?.podSelector || { x: 1 }).length === 0
        && ["Ingress", "Egress"].every((t) => (p.spec.policyTypes || []).includes(t)) && !p.spec.ingress && !p.spec.egress),
      "a default-deny policy isolates every pod for ingress and egress");
    const net = new Network(policies);
    const nsLabels = { "kubernetes.io/metadata.name": ns };
    const podPeer = (x) => ({ ns, nsLabels, labels: x.labels, namedPorts: x.namedPorts, rendered: true });
    const outside = (name, labels = {}) => ({ ns: undefined, nsLabels: { "kubernetes.io/metadata.name": name }, labels });
    const dns = { ns: undefined, nsLabels: { "kubernetes.io/metadata.name": "kube-system" }, labels: { "k8s-app": "kube-dns" } };
    const portsOf = (x) => (x.pod.containers || []).flatMap((ct) => (ct.ports || []).map((p) => p.containerPort));
    const brokerW = broker && workloads.find((x) => x.w === broker.w);
    const postgres = workloads.find((x) => x.component === "postgres");
    const roleOf = new Map(sluiced.map((s) => [s.w, s.eff.roles]));
    const fetchCidrs = String(sluiced.find((s) => s.eff.roles.includes("fetch"))?.eff.get("fetch.allow_cidrs") || "")
        .split(",").filter(Boolean);
    for (const src of workloads) {
        const sname = id(src.w);
        const sroles = roleOf.get(src.w) || [];
        const isClient = sroles.length && !sroles.includes("broker");
        c(sname, net.allowed(podPeer(src), dns, 53, "UDP"), "may resolve names (kube-dns :53)");
        for (const dst of workloads) {
            if (dst === src)
                continue;
            for (const port of portsOf(dst)) {
                let expect = false, why = "no flow is intended";
                const dstBroker = brokers.find((b) => b.w === dst.w);
                if (dstBroker && isClient && port !== Number(dstBroker.eff.get("broker.metrics_port")) && port !== statePort(dstBroker)) {
                    expect = true;
                    why = "every peer talks to the broker";
                }
                if (dstBroker && pair && sroles.includes("broker") && port === statePort(dstBroker)) {
                    expect = true;
                    why = "a broker follows the other's state";
                }
                if (dst === postgres && sroles.some((r) => S.DB_ROLES.has(r))) {
                    expect = true;
                    why = "its roles use the store";
                }
                if (dst === postgres && src.batch === "reembed") {
                    expect = true;
                    why = "re-embedding reads and writes the store";
                }
                const dstEff = sluiced.find((x) => x.w === dst.w)?.eff;
                if ((src.batch === "ingest" || src.batch === "sync") && dstEff?.roles.includes("edge") && port === Number(dstEff.get("http.port"))) {
                    expect = true;
                    why = "the ingest uploads through the edge";
                }
                const got = net.allowed(podPeer(src), podPeer(dst), port);
                c(sname, got === expect, `-> ${id(dst.w)}:${port} ${expect ? "allowed" : "denied"} (${why})${got === expect ? "" : `, but it is ${got ? "allowed" : "denied"}`}`);
            }
        }
        // the internet, private ranges, the cloud metadata service, an external database
        const probes = [["93.184.216.34", 443, "a public web server"], ["93.184.216.34", 8443, "a public high port"],
                        ["93.184.216.34", 25, "a public mail server"], ["169.254.169.254", 80, "the cloud metadata service"],
                        ["10.1.2.3", 80, "a private address"], ["192.168.1.1", 443, "a private address"],
                        ["172.16.5.5", 80, "a private address"], ["127.0.0.1", 80, "loopback"]];
        const fetches = sroles.some((r) => S.INTERNET_ROLES.has(r));
        for (const [ip, port, what] of probes) {
            const isPublic = !["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8"].some((r) => inCidr(ip, r));
            const expect = fetches && (port === 80 || port === 443 || port >= 1024) && (isPublic || fetchCidrs.some((r) => inCidr(ip, r)));
            const got = net.allowed(podPeer(src), { ip }, port);
            c(sname, got === expect, `-> ${ip}:${port} (${what}) ${expect ? "allowed" : "denied"}${got === expect ? "" : `, but it is ${got ? "allowed" : "denied"}`}`);
        }
        if (opts.overlay && !postgres && (sroles.some((r) => S.DB_ROLES.has(r)) || src.batch === "reembed")) {
            const dbPolicy = policies.find((p) => (p.spec.egress || []).some((r) => (r.ports || []).some((pt) => pt.port === 5432)
                && (r.to || []).some((t) => t.ipBlock)));
            const cidr = dbPolicy?.spec.egress.flatMap((r) => r.to || []).find((t) => t.ipBlock)?.ipBlock.cidr;
            const ip = cidr?.split("/")[0];
            c(sname, !!ip && net.allowed(podPeer(src), { ip }, 5432), `-> the external database ${cidr ?? "(no ipBlock on 5432)"} allowed`);
        }
    }
    // from outside the namespace: only the edge's HTTP port and the metrics ports
    for (const dst of workloads) {
        const droles = roleOf.get(dst.w) || [];
        for (const port of portsOf(dst)) {
            for (const from of ["ingress-nginx", "keda", "monitoring", "elsewhere"]) {
                let expect = false;
                const eff = sluiced.find((s) => s.w === dst.w)?.eff;
                if (eff) {
                    if (droles.includes("edge") && port === Number(eff.get("http.port")))
                        expect = from === "ingress-nginx" || from === "monitoring";
                    if (droles.includes("broker") && port === Number(eff.get("broker.metrics_port")))
                        expect = from === "keda" || from === "monitoring";
                    if (!droles.includes("broker") && !droles.includes("edge") && port === Number(eff.get("worker.health_port")))
                        expect = from === "monitoring";
                }
                const got = net.ingressAllowed(podPeer(dst), outside(from), port);
                c(id(dst.w), got === expect, `<- namespace ${from} :${port} ${expect ? "allowed" : "denied"}${got === expect ? "" : `, but it is ${got ? "allowed" : "denied"}`}`);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The Dockerfile (structure only: no Docker engine is needed)

function checkDockerfile(repo, report) {
    const c = (subject, ok, message) => report.check("Dockerfile", subject, ok, message);
    const file = path.join(repo, "Dockerfile");
    if (!c("Dockerfile", fs.existsSync(file), "exists at the repository root"))
        return null;
    const text = fs.readFileSync(file, "utf8").replace(/\\\n/g, " ");
    const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const args = Object.fromEntries(lines.filter((l) => /^ARG\s/i.test(l)).map((l) => l.slice(4).split("=")).map(([k, v]) => [k.trim(), (v || "").trim()]));
    const expand = (s) => s.replace(/\$\{?(\w+)\}?/g, (_, k) => args[k] ?? "");
    const stages = [];
    for (const l of lines) {
        const m = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(l);
        if (m)
            stages.push({ image: expand(m[1]), name: m[2], lines: [] });
        else if (stages.length)
            stages.at(-1).lines.push(l);
    }
    c("stages", stages.length >= 2, `multi-stage (${stages.length} stages)`);
    const build = stages[0], final = stages.at(-1);
    c("build stage", /^debian:bookworm$/.test(build?.image || ""), `builds on debian:bookworm (${build?.image})`);
    c("runtime stage", final?.image === "debian:bookworm-slim", `runs on debian:bookworm-slim (${final?.image})`);
    const buildText = build?.lines.join("\n") || "";
    c("build stage", /scripts\/setup-deps\.sh/.test(buildText) && /PKGS=/.test(buildText),
      "takes its packages from scripts/setup-deps.sh's list");
    c("build stage", /cmake --build .*--target sluiced sluice/.test(buildText) && /CMAKE_BUILD_TYPE=Release/.test(buildText),
      "builds sluiced and sluice with CMake, Release");
    c("build stage", /if \[ "\$WITH_MODEL" = 1 \] && \[ -f scripts\/setup-model\.sh \]/.test(buildText),
      "installs the embedding model only if scripts/setup-model.sh exists (and WITH_MODEL=1)");
    const finalText = final?.lines.join("\n") || "";
    const user = final?.lines.filter((l) => /^USER\s/i.test(l)).at(-1);
    c("runtime stage", !!user && /^USER\s+10001(:10001)?$/.test(user), `runs as uid 10001 (${user})`);
    c("runtime stage", /apt-get install[^\n]*--no-install-recommends/.test(finalText) && /rm -rf \/var\/lib\/apt\/lists/.test(finalText),
      "installs without recommends and drops the apt lists");
    c("runtime stage", !/-dev\b/.test(finalText.match(/apt-get install[^\n]*/)?.[0] || ""), "installs no -dev package");
    c("runtime stage", /ldd [^\n]*not found/.test(finalText), "fails the build if a shared library is missing (ldd)");
    c("runtime stage", final?.lines.some((l) => /^ENTRYPOINT\s+\["\/usr\/local\/bin\/sluiced"\]/.test(l)), "ENTRYPOINT is sluiced");
    const exposed = new Set((final?.lines.filter((l) => /^EXPOSE\s/i.test(l)) || []).flatMap((l) => l.slice(7).trim().split(/\s+/).map((p) => Number(p.split("/")[0]))));
    // the runtime packages exist in Debian (when this machine's apt can tell)
    const install = /apt-get install[^\n]*?--no-install-recommends([^;\n&]*)/.exec(finalText)?.[1] || "";
    const pkgs = install.trim().split(/\s+/).filter((p) => /^[a-z0-9][a-z0-9.+-]+$/.test(p));
    const probe = spawnSync("apt-cache", ["policy", "libc6"], { encoding: "utf8" });
    if (probe.status === 0 && /Candidate: (?!\(none\))/.test(probe.stdout)) {
        const out = spawnSync("apt-cache", ["policy", ...pkgs], { encoding: "utf8" }).stdout || "";
        for (const p of pkgs) {
            const block = out.split(/\n(?=\S)/).find((b) => b.startsWith(`${p}:`)) || "";
            c("runtime packages", /Candidate: (?!\(none\))/.test(block), `${p} is a Debian package`);
        }
    }
    else
        console.log("note Dockerfile: apt-cache cannot tell (no package lists): runtime package names not looked up");
    const ignore = path.join(repo, ".dockerignore");
    const ign = fs.existsSync(ignore) ? fs.readFileSync(ignore, "utf8").split("\n").map((l) => l.trim()) : [];
    for (const entry of [".git", "build", "build-*", "data", "models", "**/node_modules"])
        c(".dockerignore", ign.includes(entry), `keeps ${entry} out of the build context`);
    return exposed;
}

// ---------------------------------------------------------------------------
// Self-test: each break of a good render must be caught

const clone = (x) => JSON.parse(JSON.stringify(x));
const dep = (docs, name) => docs.find((d) => d.kind === "Deployment" && d.metadata.name === name);
const container = (docs, name) => dep(docs, name).spec.template.spec.containers[0];
const MUTATIONS = [
    ["brokers of the pair allowed on one node", /podAntiAffinity \(required, kubernetes\.io\/hostname\)/, (d) => { delete dep(d, "sluice-broker-backup").spec.template.spec.affinity; }],
    ["a peer given one broker of the pair", /--broker tcp:\/\/sluice-broker-primary:5555 is the broker Service/, (d) => {
        const ct = container(d, "sluice-chunk");
        ct.args = ct.args.map((a) => a.startsWith("tcp://sluice-broker-primary:5555,") ? "tcp://sluice-broker-primary:5555" : a);
    }],
    ["the pair's state port closed", /-> Deployment\/sluice-broker(-backup)?:5557 allowed \(a broker follows the other's state\)/, (d) => { d.splice(d.findIndex((x) => x.kind === "NetworkPolicy" && x.metadata.name === "sluice-broker-pair"), 1); }],
    ["passive broker ready (the metrics Service would reach it)", /\/readyz only on the active broker/, (d) => { container(d, "sluice-broker-backup").readinessProbe.httpGet.path = "/stats.json"; }],
    ["parse without memory limit", /cpu and memory requests and limits/, (d) => { delete container(d, "sluice-parse").resources.limits.memory; }],
    ["parse grace period cut to 60 s", /parse\.max_seconds 300 \+ 30/, (d) => { dep(d, "sluice-parse").spec.template.spec.terminationGracePeriodSeconds = 60; }],
    ["parse memory limit below max_memory x concurrency", /memory limit 1Gi >= parse\.max_memory/, (d) => { container(d, "sluice-parse").resources.limits.memory = "1Gi"; }],
    ["default-deny policy removed", /default-deny/, (d) => { d.splice(d.findIndex((x) => x.kind === "NetworkPolicy" && x.metadata.name === "sluice-default-deny"), 1); }],
    ["misspelt field (readinesProbe)", /readinesProbe: unknown field/, (d) => { container(d, "sluice-chunk").readinesProbe = container(d, "sluice-chunk").readinessProbe; }],
    ["containerPort as a string", /must be integer/, (d) => { container(d, "sluice-edge").ports[0].containerPort = "8080"; }],
    ["KEDA trigger on another stage's queue", /services\.embed\.queued/, (d) => { d.find((x) => x.kind === "ScaledObject" && x.metadata.name === "sluice-embed").spec.triggers[0].metadata.valueLocation = "services.parse.queued"; }],
    ["misspelt setting in the ConfigMap", /SLUICE_PARSE_MAX_MEMROY .* is a setting/, (d) => { d.find((x) => x.kind === "ConfigMap").data.SLUICE_PARSE_MAX_MEMROY = "512m"; }],
    ["setting that does not parse", /SLUICE_BROKER_LIVENESS=three parses/, (d) => { d.find((x) => x.kind === "ConfigMap").data.SLUICE_BROKER_LIVENESS = "three"; }],
    ["writable root filesystem", /readOnlyRootFilesystem/, (d) => { container(d, "sluice-store").securityContext.readOnlyRootFilesystem = false; }],
    ["no probes on a worker", /liveness and a readiness probe/, (d) => { delete container(d, "sluice-fetch").livenessProbe; }],
    ["worker probes on the wrong port", /probes worker\.health_port/, (d) => { container(d, "sluice-embed").readinessProbe.httpGet.port = 8080; }],
    ["two control replicas without a PodDisruptionBudget", /PodDisruptionBudget/, (d) => { dep(d, "sluice-control").spec.replicas = 2; d.splice(d.findIndex((x) => x.kind === "PodDisruptionBudget" && x.metadata.name === "sluice-control"), 1); }],
    ["parse may reach the database", /sluice-parse: .*5432 denied|db-client/, (d) => { dep(d, "sluice-parse").spec.template.metadata.labels["sluice.io/db-client"] = "true"; }],
    ["broker open to every namespace", /<- namespace elsewhere :5555 denied/, (d) => { d.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "sluice-broker").spec.ingress.push({ from: [{ namespaceSelector: {} }], ports: [{ port: 5555 }] }); }],
    ["fetch may reach the metadata service", /169\.254\.169\.254:80/, (d) => { d.find((x) => x.kind === "NetworkPolicy" && x.metadata.name === "sluice-fetch-internet").spec.egress[0].to[0].ipBlock.except = ["10.0.0.0/8"]; }],
    ["edge without preStop", /preStop/, (d) => { delete container(d, "sluice-edge").lifecycle; }],
    ["service links on", /enableServiceLinks/, (d) => { dep(d, "sluice-chunk").spec.template.spec.enableServiceLinks = true; }],
    ["replicas set on an autoscaled Deployment", /leaves spec\.replicas unset/, (d) => { dep(d, "sluice-embed").spec.replicas = 3; }],
    ["ScaledObject without a target", /scaleTargetRef/, (d) => { delete d.find((x) => x.kind === "ScaledObject").spec.scaleTargetRef; }],
    ["Secret reference that resolves to nothing", /Secret sluice-nope/, (d) => { container(d, "sluice-store").envFrom.push({ secretRef: { name: "sluice-nope" } }); }],
    ["Service selecting no pods", /selects the pods of exactly one workload/, (d) => { d.find((x) => x.kind === "Service" && x.metadata.name === "sluice-edge").spec.selector["app.kubernetes.io/component"] = "edgy"; }],
    ["broker bound publicly with neither CURVE nor broker.insecure", /binds tcp:\/\/\*:5555 with CURVE or broker\.insecure/, (d) => {
        const ct = container(d, "sluice-broker");
        ct.env = (ct.env || []).filter((e) => !["SLUICE_CURVE_BROKER_SECRET", "SLUICE_BROKER_INSECURE"].includes(e.name));
        for (const cm of d.filter((x) => x.kind === "ConfigMap"))
            delete (cm.data || {}).SLUICE_BROKER_INSECURE;
    }],
    ["ingest as a bare Job", /is a CronJob/, (d) => { const cj = d.find((x) => x.kind === "CronJob" && x.metadata.name === "sluice-ingest"); cj.kind = "Job"; cj.apiVersion = "batch/v1"; cj.spec = cj.spec.jobTemplate.spec; }],
    ["ingest retries failed documents", /fails the Job at once/, (d) => { delete d.find((x) => x.kind === "CronJob" && x.metadata.name === "sluice-ingest").spec.jobTemplate.spec.podFailurePolicy; }],
    ["re-embeds may overlap", /concurrencyPolicy Forbid/, (d) => { d.find((x) => x.kind === "CronJob" && x.metadata.name === "sluice-reembed").spec.concurrencyPolicy = "Allow"; }],
    ["ingest may reach the broker", /sluice-ingest: .*5555 denied|edge-client only/, (d) => { d.find((x) => x.kind === "CronJob" && x.metadata.name === "sluice-ingest").spec.jobTemplate.spec.template.metadata.labels["sluice.io/broker-client"] = "true"; }],
    ["ingest cut off from the edge", /-> Deployment\/sluice-edge:8080 allowed/, (d) => { d.splice(d.findIndex((x) => x.kind === "NetworkPolicy" && x.metadata.name === "sluice-edge-from-batch"), 1); }],
    ["embed without OPENBLAS_NUM_THREADS", /OPENBLAS_NUM_THREADS=1/, (d) => { container(d, "sluice-embed").env = container(d, "sluice-embed").env.filter((e) => e.name !== "OPENBLAS_NUM_THREADS"); }],
];

async function selftest(render, opts, report) {
    // the unbroken render must pass, or the breaks prove nothing
    const base = new Report(false, true);
    await checkTarget(render, opts, base);
    report.check("selftest", render.name, base.failed === 0, `the unbroken render passes (${base.failed} failures: ${base.failures.slice(0, 3).join(" | ")})`);
    for (const [name, expected, mutate] of MUTATIONS) {
        const docs = clone(render.docs);
        let caught = false, why = "";
        try {
            mutate(docs);
            const r = new Report(false, true);
            await checkTarget(new Render(render.name, docs, render.external), opts, r);
            caught = r.failures.some((f) => expected.test(f));
            why = caught ? "" : ` (failures: ${r.failures.slice(0, 3).join(" | ") || "none"})`;
        }
        catch (e) {
            why = ` (the break itself failed: ${e.message})`;
        }
        report.check("selftest", name, caught, `is caught${why}`);
    }
}

// ---------------------------------------------------------------------------

async function main() {
    const argv = process.argv.slice(2);
    let repo = null, verbose = false;
    const selftests = [], targets = [], externals = new Map();
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--repo")
            repo = argv[++i];
        else if (a === "--verbose" || a === "-v")
            verbose = true;
        else if (a === "--selftest")
            selftests.push(argv[++i]);
        else if (a === "--external") {
            const [name, file] = argv[++i].split("=");
            externals.set(name, loadExternal(file));
        }
        else if (a.includes("="))
            targets.push(a.split("="));
        else {
            console.error(`validate.mjs: unexpected argument ${a}`);
            process.exit(2);
        }
    }
    if (!repo || targets.length === 0) {
        console.error("usage: node validate.mjs --repo DIR [--verbose] [--selftest NAME] [--external NAME=FILE] NAME=RENDERED.yaml ...");
        process.exit(2);
    }
    const report = new Report(verbose);
    const settings = S.settings(repo);
    const roles = S.roles(repo);
    report.check("source", "settings", settings.keys.size > 20 && roles.size > 8,
                 `read ${settings.keys.size} settings and ${roles.size} roles from the C sources`);
    const exposed = checkDockerfile(repo, report);
    // curve-keys.mjs: Z85 as ZeroMQ's spec defines it, certificates czmq can read
    report.check("curve-keys", "z85", z85(Buffer.from([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])) === "HelloWorld",
                 "encodes the Z85 specification's test vector as HelloWorld");
    const k = keypair();
    report.check("curve-keys", "certificates", /^curve\n    public-key = "[^"]{40}"\n    secret-key = "[^"]{40}"\n$/m.test(secretCert(k).split("metadata\n")[1])
                 && publicCert(k).endsWith(`curve\n    public-key = "${k.public}"\n`) && !publicCert(k).includes(k.secret),
                 "writes zcert sections: the secret file has both keys, the public file only the public key");
    for (const [name, file] of targets) {
        let docs;
        try {
            docs = loadDocs(file);
        }
        catch (e) {
            report.check(name, "render", false, e.message);
            continue;
        }
        if (!report.check(name, "render", docs.length > 0, `kustomize rendered ${docs.length} objects`))
            continue;
        const before = report.failed;
        const render = new Render(name, docs, externals.get(name));
        const opts = { settings, roles, exposed, overlay: name !== "base", pinned: name === "prod" };
        const passedBefore = report.passed;
        await checkTarget(render, opts, report);
        console.log(`${name}: ${docs.length} objects, ${report.passed - passedBefore + report.failed - before} checks, ${report.failed - before} failed`);
        if (selftests.includes(name) && docs.length)
            await selftest(render, opts, report);
    }
    console.log(`${report.passed} passed, ${report.failed} failed`);
    process.exit(report.failed ? 1 : 0);
}

main().catch((e) => {
    console.error(`validate.mjs: ${e.stack || e}`);
    process.exit(1);
});
