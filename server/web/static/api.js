// The page's client of attestd's REST/JSON API (/v1/ on the same origin; docs/api.md). It sends the bearer
// token in the Authorization header only, never in a URL, never with cookies, and turns error answers into
// sentences a release manager can act on.

// APIError is an error answer: the HTTP status, the gRPC code name and attestd's own message.
export class APIError extends Error {
  constructor(status, code, detail) {
    super(explain(status, detail));
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

// explain says in words what an HTTP status of the gateway means to the person at the page.
function explain(status, detail) {
  const words = {
    0: "could not reach attestd",
    400: "attestd refused the request",
    401: "token not accepted",
    403: "this token may not do that",
    404: "not found or not visible to this token",
    409: "attestd cannot do that now",
    412: "not possible yet",
    413: "too large for attestd's limits",
    429: "over one of attestd's limits",
    499: "cancelled",
    501: "this attestd does not serve that yet",
    503: "attestd is not serving now (is its database up?)",
    504: "attestd took too long to answer",
  }[status];
  const head = words || (status >= 500 ? `attestd failed (HTTP ${status})` : `request failed (HTTP ${status})`);
  return detail ? `${head}: ${detail}` : head;
}

// maxAnswerBytes bounds what the page reads from one answer, as attestd bounds what it sends.
const maxAnswerBytes = 64 << 20;

// Client calls the API as the holder of one token.
export class Client {
  constructor(token) {
    this.token = token;
  }

  // call sends one request: path segments are encoded here, query values too.
  async call(method, segments, { query, body } = {}) {
    let url = "/v1/" + segments.map((s) => encodeURIComponent(String(s))).join("/");
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") q.set(k, String(v));
      const qs = q.toString();
      if (qs) url += "?" + qs;
    }
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = "Bearer " + this.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
        redirect: "error",
        referrerPolicy: "no-referrer",
      });
    } catch (e) {
      throw new APIError(0, "", String(e.message || e));
    }
    const len = Number(resp.headers.get("Content-Length") || 0);
    if (len > maxAnswerBytes) throw new APIError(413, "", `answer of ${len} bytes`);
    const text = await resp.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        if (resp.ok) throw new APIError(resp.status, "", "the answer is not JSON");
      }
    }
    if (!resp.ok) {
      const detail = data && typeof data.message === "string" ? data.message : "";
      throw new APIError(resp.status, data && data.code, detail);
    }
    return data || {};
  }

  get(segments, query) {
    return this.call("GET", segments, { query });
  }

  projects() {
    return this.get(["projects"]);
  }
  provenance(project, digest) {
    return this.get(["projects", project, "provenance"], { digest, maxDepth: 16, maxNodes: 200 });
  }
  attestations(project, subjectDigest) {
    return this.get(["projects", project, "attestations"], { subjectDigest, omitEnvelopes: true, pageSize: 100 });
  }
  attestation(project, id) {
    return this.get(["projects", project, "attestations", id]);
  }
  dependents(project, digest) {
    return this.get(["projects", project, "dependents"], { digest, maxDepth: 16, maxNodes: 500 });
  }
  inclusionProof(project, attestationId) {
    return this.get(["projects", project, "log", "inclusion-proof"], { attestationId });
  }
  checkpoint() {
    return this.get(["log", "checkpoint"]);
  }
  verify(project, kind, name, digest) {
    return this.call("POST", ["projects", project, "verify"], { body: { kind, name, digest } });
  }
}

// b64 decodes protojson's base64 (standard or URL alphabet) into bytes.
export function b64(s) {
  const std = String(s || "").replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(std + "=".repeat((4 - (std.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// hex is the lowercase hex of bytes.
export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// digestHexLength is the hex length of each digest algorithm the page accepts.
const digestHexLength = { sha256: 64, sha384: 96, sha512: 128 };

// parseDigest accepts "ALG:HEX" (sha256, sha384, sha512) or a bare 64-hex value (sha256) and returns the
// canonical lowercase "alg:hex", or null when it is not a digest.
export function parseDigest(s) {
  const m = /^(?:([a-z0-9]+):)?([0-9a-f]+)$/.exec(String(s || "").trim().toLowerCase());
  if (!m) return null;
  const alg = m[1] || "sha256";
  return digestHexLength[alg] === m[2].length ? `${alg}:${m[2]}` : null;
}
