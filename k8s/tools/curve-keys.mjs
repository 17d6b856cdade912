// curve-keys.mjs: writes a fresh set of CURVE certificates for Sluice, in
// czmq's text certificate format, laid out as the three Secrets that
// components/curve mounts, and prints the kubectl commands that create them.
//
//   node k8s/tools/curve-keys.mjs DIR [NAMESPACE]
//
//   DIR/broker/broker.key_secret     -> Secret sluice-curve-broker
//   DIR/workers/worker.key           -> Secret sluice-curve-workers
//   DIR/worker/worker.key_secret     -> Secret sluice-curve-worker
//   DIR/worker/broker.key
//
// The worker key is the pipeline's (every pod); it may do everything.
// Programs outside the cluster get client keys (`sluiced --keygen`), listed
// on the broker as SLUICE_CURVE_CLIENT_KEYS=KEY:WORKSPACE,...
//
// CURVE keys are Curve25519 key pairs; Node's X25519 keys are the same
// thing, so no ZeroMQ library is needed here. Keys are Z85-encoded (40
// characters for 32 bytes) as ZeroMQ expects. DIR must not exist yet: a set
// is never overwritten, and the secret files are created mode 0600.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

export function z85(bytes) {
    if (bytes.length % 4)
        throw new Error("z85: length must be a multiple of 4");
    let out = "";
    for (let i = 0; i < bytes.length; i += 4) {
        let value = bytes.readUInt32BE(i);
        let chunk = "";
        for (let j = 0; j < 5; j++) {
            chunk = Z85[value % 85] + chunk;
            value = Math.floor(value / 85);
        }
        out += chunk;
    }
    return out;
}

export function keypair() {
    const { publicKey, privateKey } = crypto.generateKeyPairSync("x25519");
    const jwk = privateKey.export({ format: "jwk" });
    const pub = Buffer.from(publicKey.export({ format: "jwk" }).x, "base64url");
    return { public: z85(pub), secret: z85(Buffer.from(jwk.d, "base64url")) };
}

function header(kind) {
    const when = new Date().toISOString().replace("T", " ").slice(0, 19);
    const lines = kind === "secret"
        ? ["#   ZeroMQ CURVE **Secret** Certificate",
           "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions."]
        : ["#   ZeroMQ CURVE Public Certificate",
           "#   Exchange securely, or use a secure mechanism to verify the contents",
           "#   of this file after exchange."];
    return `#   ****  Generated on ${when} by sluice k8s/tools/curve-keys.mjs  ****\n${lines.join("\n")}\n\nmetadata\ncurve\n`;
}

export const publicCert = (k) => `${header("public")}    public-key = "${k.public}"\n`;
export const secretCert = (k) => `${header("secret")}    public-key = "${k.public}"\n    secret-key = "${k.secret}"\n`;

function main() {
    const [dir, namespace = "sluice"] = process.argv.slice(2);
    if (!dir) {
        console.error("usage: node curve-keys.mjs DIR [NAMESPACE]");
        process.exit(2);
    }
    if (fs.existsSync(dir)) {
        console.error(`curve-keys: ${dir} exists; choose a new folder (a key set is never overwritten)`);
        process.exit(1);
    }
    const broker = keypair(), worker = keypair();
    const write = (file, text, mode) => {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        fs.writeFileSync(file, text, { mode });
    };
    write(path.join(dir, "broker", "broker.key_secret"), secretCert(broker), 0o600);
    write(path.join(dir, "workers", "worker.key"), publicCert(worker), 0o644);
    write(path.join(dir, "worker", "worker.key_secret"), secretCert(worker), 0o600);
    write(path.join(dir, "worker", "broker.key"), publicCert(broker), 0o644);
    console.log(`# CURVE certificates written to ${dir}. Create the Secrets with:`);
    for (const [name, sub] of [["sluice-curve-broker", "broker"], ["sluice-curve-workers", "workers"], ["sluice-curve-worker", "worker"]])
        console.log(`kubectl -n ${namespace} create secret generic ${name} --from-file=${path.join(dir, sub)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname)
    main();
