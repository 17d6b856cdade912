// sluice.mjs: what the validator knows about sluiced, read from the source
// tree where possible so the manifests are checked against the code that
// will run, not against a copy of it.
//
//   settings(repo)  every `section.key` sluiced reads and how it parses it
//                   (sl_config_get/int/bool/size/double calls), plus
//                   `<role>.concurrency` for each role and the SLUICE_*
//                   variables read with getenv;
//   roles(repo)     role name -> default concurrency (the actor tables).
//
// The role facts below (which roles need the database, the blob area, run
// workers) follow the actors' start functions: see actors/*/sl_*_actor.c.
import fs from "node:fs";
import path from "node:path";

// Roles that run an sl_worker (and so serve worker.health_port)
export const WORKER_ROLES = new Set(["journal", "query", "intake", "fetch", "parse", "ocr", "chunk", "embed", "store", "echo", "sources"]);
// sl_store_shared(): fetch (dedupe), embed (vector cache), store, intake, journal, query
export const DB_ROLES = new Set(["fetch", "embed", "store", "intake", "journal", "query", "sources"]);
// sl_node_blob(): the edge (uploads) and every stage; intake adopts uploads, query deletes blobs
export const BLOB_ROLES = new Set(["edge", "fetch", "parse", "ocr", "chunk", "embed", "store", "intake", "query", "sources"]);
// Roles that contact servers on the internet through fetch's guard (sources
// asks servers whether pages changed and reads sitemaps)
export const INTERNET_ROLES = new Set(["fetch", "sources"]);
// The pipeline stages, each scaled by KEDA on its own queue
export const STAGES = ["fetch", "parse", "ocr", "chunk", "embed", "store"];
// Stages that multiply matrices (OpenBLAS): one BLAS thread per handler
export const BLAS_ROLES = new Set(["embed", "store"]);

// Defaults from docs/config.md for the settings the checks reason about
export const DEFAULTS = {
    "worker.drain_timeout_ms": "30000",
    "parse.max_seconds": "300",
    "parse.max_memory": "1g",
    "fetch.total_timeout_ms": "60000",
    "broker.metrics_port": "9101",
    "worker.health_port": "9102",
    "http.port": "8080",
    "http.bind": "127.0.0.1",
    "http.max_upload": "256m",
    "http.timeout_s": "60",
};

function walk(dir, out = []) {
    if (!fs.existsSync(dir))
        return out;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory())
            walk(full, out);
        else if (entry.name.endsWith(".c"))
            out.push(full);
    }
    return out;
}

function sources(repo) {
    return ["engine", "broker", "store", "actors"].flatMap((d) => walk(path.join(repo, d)))
        .filter((f) => !f.endsWith("_test.c"))
        .map((f) => fs.readFileSync(f, "utf8"));
}

export function roles(repo) {
    const out = new Map([["broker", 0]]);
    for (const text of sources(repo))
        for (const m of text.matchAll(/\.name\s*=\s*"([a-z]+)"\s*,\s*\.default_concurrency\s*=\s*(\d+)/g))
            out.set(m[1], Number(m[2]));
    return out;
}

// key -> parser kind ("get", "int", "bool", "size", "double")
export function settings(repo) {
    const keys = new Map();
    const getenv = new Set();
    const call = /sl_config_(get|int|bool|size|double)\s*\(\s*[^,()]+(?:\([^()]*\))?\s*,\s*"([a-z0-9_]+\.[a-z0-9_.]+)"/g;
    for (const text of sources(repo)) {
        for (const m of text.matchAll(call))
            keys.set(m[2], keys.get(m[2]) === "get" || !keys.has(m[2]) ? m[1] : keys.get(m[2]));
        for (const m of text.matchAll(/getenv\s*\(\s*"(SLUICE_[A-Z0-9_]+)"\s*\)/g))
            getenv.add(m[1]);
    }
    for (const role of roles(repo).keys())
        if (role !== "broker")
            keys.set(`${role}.concurrency`, "int");
    keys.set("data.dir", "get");
    keys.set("role", "get");
    return { keys, getenv };
}

// Is a bind endpoint reachable only from this machine? The rule of
// broker/sl_trust.c (sl_trust_endpoint_local): inproc, ipc, and tcp on
// 127.0.0.0/8, ::1 or localhost.
export function endpointLocal(endpoint) {
    const e = String(endpoint || "");
    if (e.startsWith("inproc://") || e.startsWith("ipc://"))
        return true;
    const m = /^tcp:\/\/(.+):[^:]+$/.exec(e);
    if (!m || m[1].includes(";"))
        return false;
    const host = m[1].replace(/^\[(.*)\]$/, "$1");
    return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

// SLUICE_PARSE_MAX_MEMORY -> parse.max_memory (the first "_" after the
// section becomes the dot; a name without one is ignored by sluiced)
export function envToKey(name) {
    if (!name.startsWith("SLUICE_"))
        return null;
    const rest = name.slice(7).toLowerCase();
    const i = rest.indexOf("_");
    return i <= 0 ? null : `${rest.slice(0, i)}.${rest.slice(i + 1)}`;
}

// Does `value` parse the way sl_config_<kind> parses it?
export function parses(kind, value) {
    const v = String(value);
    switch (kind) {
        case "int": return /^[+-]?\d+$/.test(v.trim()) && v.trim() === v;
        case "double": return v !== "" && !Number.isNaN(Number(v));
        case "bool": return /^(1|true|yes|on|0|false|no|off)$/i.test(v);
        case "size": return sizeBytes(v) !== null;
        default: return true;
    }
}

// sl_config_size: a number with an optional k/m/g (binary) and b/B/i suffix
export function sizeBytes(text) {
    const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)(b|B|iB|ib)?$/.exec(String(text));
    if (!m)
        return null;
    const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()];
    return Math.floor(Number(m[1]) * mult);
}

// Kubernetes quantities: memory to bytes, cpu to millicores
export function quantityBytes(q) {
    const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$/.exec(String(q));
    if (!m)
        return null;
    const units = { "": 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
                    k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };
    return Number(m[1]) * units[m[2] || ""];
}

export function cpuMillis(q) {
    const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(String(q));
    return m ? (m[2] ? Number(m[1]) : Number(m[1]) * 1000) : null;
}

// nginx sizes: a number with k/m/g (binary)
export function nginxBytes(text) {
    const m = /^(\d+)([kKmMgG]?)$/.exec(String(text));
    return m ? Number(m[1]) * { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()] : null;
}
