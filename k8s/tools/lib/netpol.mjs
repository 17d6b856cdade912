// netpol.mjs: evaluates Kubernetes NetworkPolicies the way the API defines
// them, so the validator can ask "may pod A open a connection to pod B on
// port P?" of a rendered manifest set instead of eyeballing YAML.
//
// Semantics (networking.k8s.io/v1): a pod is isolated for a direction if any
// policy selecting it lists that direction in policyTypes (absent
// policyTypes = Ingress, plus Egress if the policy has egress rules). An
// isolated pod allows only what the union of those policies' rules allows.
// A connection needs the source's egress AND the destination's ingress.
// Peers: podSelector alone = pods of the policy's namespace; with
// namespaceSelector = pods in matching namespaces; ipBlock = addresses
// (cluster pods are matched by selectors here, never by ipBlock).

// LabelSelector match; {} selects everything.
export function selects(selector, labels = {}) {
    if (!selector)
        return false;
    for (const [k, v] of Object.entries(selector.matchLabels || {}))
        if (labels[k] !== v)
            return false;
    for (const e of selector.matchExpressions || []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const ok = e.operator === "In" ? has && (e.values || []).includes(labels[e.key])
                 : e.operator === "NotIn" ? !has || !(e.values || []).includes(labels[e.key])
                 : e.operator === "Exists" ? has
                 : e.operator === "DoesNotExist" ? !has : false;
        if (!ok)
            return false;
    }
    return true;
}

function ipv4(text) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
    return m ? ((+m[1] << 24) >>> 0) + (+m[2] << 16) + (+m[3] << 8) + +m[4] : null;
}

// Is IPv4 address `ip` inside `cidr`? IPv6 ranges never contain an IPv4 address.
export function inCidr(ip, cidr) {
    const [base, bits] = cidr.split("/");
    const a = ipv4(ip), b = ipv4(base);
    if (a === null || b === null)
        return false;
    const n = Number(bits);
    const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
    return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function types(policy) {
    const spec = policy.spec || {};
    if (spec.policyTypes)
        return spec.policyTypes;
    return spec.egress ? ["Ingress", "Egress"] : ["Ingress"];
}

function peerMatches(rulePeer, peer, policyNs) {
    if (rulePeer.ipBlock) {
        return !!peer.ip && inCidr(peer.ip, rulePeer.ipBlock.cidr)
            && !(rulePeer.ipBlock.except || []).some((c) => inCidr(peer.ip, c));
    }
    if (peer.ip)
        return false;
    const nsOk = rulePeer.namespaceSelector ? selects(rulePeer.namespaceSelector, peer.nsLabels)
                                            : peer.ns === policyNs;
    const podOk = rulePeer.podSelector ? selects(rulePeer.podSelector, peer.labels) : true;
    return nsOk && podOk;
}

function portMatches(rulePorts, port, protocol, namedPorts = {}) {
    if (!rulePorts || rulePorts.length === 0)
        return true;
    return rulePorts.some((p) => {
        if ((p.protocol || "TCP") !== protocol)
            return false;
        if (p.port === undefined)
            return true;
        if (typeof p.port === "string")
            return namedPorts[p.port] === port;
        return p.endPort ? port >= p.port && port <= p.endPort : port === p.port;
    });
}

export class Network {
    // policies: rendered NetworkPolicy objects (with metadata.namespace)
    constructor(policies) {
        this.policies = policies;
    }

    // pod: { ns, labels, namedPorts }; from: a pod-like peer or { ip }
    ingressAllowed(pod, from, port, protocol = "TCP") {
        const isolating = this.policies.filter((p) => p.metadata.namespace === pod.ns
            && selects(p.spec.podSelector, pod.labels) && types(p).includes("Ingress"));
        if (isolating.length === 0)
            return true;
        return isolating.some((p) => (p.spec.ingress || []).some((rule) =>
            (!rule.from || rule.from.length === 0 || rule.from.some((f) => peerMatches(f, from, p.metadata.namespace)))
            && portMatches(rule.ports, port, protocol, pod.namedPorts)));
    }

    egressAllowed(pod, to, port, protocol = "TCP") {
        const isolating = this.policies.filter((p) => p.metadata.namespace === pod.ns
            && selects(p.spec.podSelector, pod.labels) && types(p).includes("Egress"));
        if (isolating.length === 0)
            return true;
        return isolating.some((p) => (p.spec.egress || []).some((rule) =>
            (!rule.to || rule.to.length === 0 || rule.to.some((t) => peerMatches(t, to, p.metadata.namespace)))
            && portMatches(rule.ports, port, protocol, to.namedPorts)));
    }

    // A connection from pod `from` to `to` (a pod of this render, a pod
    // elsewhere, or an address): egress of the source and, when the
    // destination is a pod we render, its ingress.
    allowed(from, to, port, protocol = "TCP") {
        if (from.ns !== undefined && !this.egressAllowed(from, to, port, protocol))
            return false;
        if (to.rendered && !this.ingressAllowed(to, from, port, protocol))
            return false;
        return true;
    }
}
