// strict.mjs: finds fields that the Kubernetes API does not know.
//
// The kubernetes-models validators check types, required fields and formats
// but let unknown fields through (the OpenAPI schemas have no
// additionalProperties: false). The API server does not: `kubectl apply`
// uses strict field validation, so a typo such as `readinesProbe` fails the
// deploy, or with older clients is silently dropped, which is worse. The
// packages' TypeScript declarations list every field of every type, so this
// module reads the .d.ts files (a small parser for the regular subset they
// use) and walks each object against them.
import fs from "node:fs";
import path from "node:path";

const TOKEN = /\s*("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|[{}<>[\];:?|,()=.])/y;
const ANY = { k: "any" };

function tokenize(text) {
    const out = [];
    TOKEN.lastIndex = 0;
    let m;
    while (TOKEN.lastIndex < text.length && (m = TOKEN.exec(text)))
        out.push(m[1]);
    return out;
}

// Parse one type expression from tokens[pos]; returns [type, nextPos].
function parseType(t, pos) {
    const alts = [];
    for (;;) {
        let [type, p] = parsePrimary(t, pos);
        while (t[p] === "[" && t[p + 1] === "]") {
            type = { k: "arr", of: type };
            p += 2;
        }
        alts.push(type);
        if (t[p] !== "|")
            return [alts.length === 1 ? alts[0] : { k: "union", alts }, p];
        pos = p + 1;
    }
}

function parsePrimary(t, pos) {
    const tok = t[pos];
    if (tok === "{")
        return parseObject(t, pos);
    if (tok === "Array" && t[pos + 1] === "<") {
        const [of, p] = parseType(t, pos + 2);
        if (t[p] !== ">")
            throw new Error(`expected '>' at token ${p}, got ${t[p]}`);
        return [{ k: "arr", of }, p + 1];
    }
    if (tok === "(") {
        const [inner, p] = parseType(t, pos + 1);
        return [inner, p + 1];
    }
    if (/^[A-Za-z_$]/.test(tok)) {
        if (["string", "number", "boolean", "any", "unknown", "null", "object", "undefined"].includes(tok))
            return [ANY, pos + 1];
        return [{ k: "ref", name: tok }, pos + 1];
    }
    return [ANY, pos + 1];          // a string or number literal type
}

function parseObject(t, pos) {
    const obj = { k: "obj", props: new Map(), index: null };
    let p = pos + 1;
    while (t[p] !== "}") {
        if (p >= t.length)
            throw new Error("unterminated object type");
        if (t[p] === "[") {
            //  [key: string]: T
            while (t[p] !== "]")
                p++;
            p += 2;                 // "]" ":"
            const [type, q] = parseType(t, p);
            obj.index = type;
            p = q;
        }
        else {
            const name = JSON.parse(t[p].startsWith('"') ? t[p] : `"${t[p]}"`);
            p++;
            if (t[p] === "?")
                p++;
            if (t[p] !== ":")
                throw new Error(`expected ':' after ${name}, got ${t[p]}`);
            const [type, q] = parseType(t, p + 1);
            obj.props.set(name, type);
            p = q;
        }
        if (t[p] === ";" || t[p] === ",")
            p++;
    }
    return [obj, p + 1];
}

export class StrictFields {
    constructor(nodeModules) {
        this.nodeModules = nodeModules;
        this.files = new Map();     // .d.ts path -> { type, imports, file }
    }

    // The .d.ts a module specifier names, seen from file `from`.
    resolve(spec, from) {
        if (spec.startsWith("."))
            return path.resolve(path.dirname(from), spec + ".d.ts");
        for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
            const candidate = path.join(dir, "node_modules", spec + ".d.ts");
            if (fs.existsSync(candidate))
                return candidate;
            if (dir === path.dirname(dir))
                return path.join(this.nodeModules, spec + ".d.ts");
        }
    }

    load(file) {
        if (this.files.has(file))
            return this.files.get(file);
        const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
        const imports = new Map();
        for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g))
            for (const name of m[1].split(",")) {
                const parts = name.trim().split(/\s+as\s+/);
                if (parts[0])
                    imports.set((parts[1] || parts[0]).trim(), m[2]);
            }
        let type = ANY;             //  type aliases (Quantity, IntOrString, Time) are scalars
        const head = text.match(/export\s+interface\s+\w+(?:\s+extends\s+[^{]+)?\s*\{/);
        if (head) {
            const tokens = tokenize(text.slice(head.index + head[0].length - 1));
            type = parseObject(tokens, 0)[0];
        }
        const entry = { type, imports, file };
        this.files.set(file, entry);
        return entry;
    }

    // Unknown fields of `data` against the main interface of `dtsFile`:
    // a list of "path: unknown field" strings.
    check(data, dtsFile) {
        const errors = [];
        const root = this.load(dtsFile);
        this.walk(data, root.type, root, "", errors);
        return errors;
    }

    walk(data, type, ctx, where, errors) {
        if (data === null || data === undefined)
            return;
        if (type.k === "ref") {
            const spec = ctx.imports.get(type.name);
            if (!spec)
                return;             //  a local alias: nothing to check
            const next = this.load(this.resolve(spec, ctx.file));
            return this.walk(data, next.type, next, where, errors);
        }
        if (type.k === "union") {
            const shaped = type.alts.find((a) => a.k === "obj" || a.k === "ref" || a.k === "arr");
            return shaped && this.walk(data, shaped, ctx, where, errors);
        }
        if (type.k === "arr") {
            if (Array.isArray(data))
                data.forEach((item, i) => this.walk(item, type.of, ctx, `${where}[${i}]`, errors));
            return;
        }
        if (type.k !== "obj" || typeof data !== "object" || Array.isArray(data))
            return;
        for (const [key, value] of Object.entries(data)) {
            const sub = where ? `${where}.${key}` : key;
            const fieldType = type.props.get(key) || type.index;
            if (!fieldType)
                errors.push(`${sub}: unknown field`);
            else
                this.walk(value, fieldType, ctx, sub, errors);
        }
    }
}
