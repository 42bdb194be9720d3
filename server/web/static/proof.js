// Checks, in the browser, that an attestation is in attestd's transparency log (docs/transparency-log.md):
//
//   envelope --sha256--> id --> entry = SHA-256("attestd/log-entry/v1" 0 project 0 id 0 id)
//   leaf = SHA-256(0x00 || entry) --RFC 6962 audit path--> root of the signed checkpoint
//
// and that the checkpoint (a C2SP signed note) carries a valid Ed25519 signature by the log key that attestd
// names. That key comes from the same server, so the page shows it for comparison with the operator's key
// (attestd log-key) out of band: the check proves consistency, not who runs the log.

import { b64, hex } from "./api.js";

const enc = new TextEncoder();

async function sha256(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const buf = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    buf.set(p, off);
    off += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// logEntry is the 32-byte entry that attestd appends for an attestation.
export function logEntry(project, id) {
  return sha256(enc.encode(`attestd/log-entry/v1\0${project}\0${id}\0${id}`));
}

// rootFromInclusion recomputes the tree root from a leaf hash and its RFC 6962 / RFC 9162 audit path; it
// throws when the path has the wrong length for the index and size.
export async function rootFromInclusion(index, size, leafHash, path) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) throw new Error(`index ${index} is outside a tree of size ${size}`);
  let r = leafHash;
  const one = new Uint8Array([1]);
  for (const p of path) {
    if (p.length !== 32) throw new Error("a path hash is not 32 bytes");
    if (sn === 0n) throw new Error("the audit path is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(one, p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await sha256(one, r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the audit path is too short");
  return r;
}

// maxNoteBytes bounds the checkpoint text parsed here (a checkpoint is a few hundred bytes).
const maxNoteBytes = 16 << 10;

// parseCheckpoint splits a signed note into its checkpoint (origin, size, root) and signatures.
export function parseCheckpoint(bytes) {
  if (bytes.length > maxNoteBytes) throw new Error("the checkpoint is too large");
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  const split = text.lastIndexOf("\n\n");
  if (split < 0) throw new Error("the checkpoint has no signature");
  const body = text.slice(0, split + 1);
  const lines = body.split("\n");
  if (lines.length < 4 || !/^[1-9][0-9]*$|^0$/.test(lines[1])) throw new Error("the checkpoint is malformed");
  const root = b64(lines[2]);
  if (root.length !== 32) throw new Error("the checkpoint's root is not 32 bytes");
  const sigs = [];
  for (const line of text.slice(split + 2).split("\n")) {
    if (!line) continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error("a checkpoint signature line is malformed");
    const raw = b64(m[2]);
    if (raw.length < 5) throw new Error("a checkpoint signature is too short");
    sigs.push({ name: m[1], keyHash: raw.slice(0, 4), sig: raw.slice(4) });
  }
  return { origin: lines[0], size: BigInt(lines[1]), root, body: enc.encode(body), sigs };
}

// checkSignature verifies the note's Ed25519 signature by the verifier key "name+hash+base64(0x01||key)".
// It answers true, false, or null when this browser cannot check Ed25519.
export async function checkSignature(note, verifierKey) {
  // The name and the hash hold no '+'; the base64 key may.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(String(verifierKey || ""));
  if (!m) throw new Error("attestd named no usable log key");
  const [, name, hashHex, keyB64] = m;
  const key = b64(keyB64);
  if (key.length !== 33 || key[0] !== 1) throw new Error("the log key is not an Ed25519 note key");
  const keyHash = (await sha256(enc.encode(name + "\n"), key)).slice(0, 4);
  if (hex(keyHash) !== hashHex) throw new Error("the log key's hash does not match the key");
  const sig = note.sigs.find((s) => s.name === name && equal(s.keyHash, keyHash));
  if (!sig) return false;
  let pub;
  try {
    pub = await crypto.subtle.importKey("raw", key.slice(1), { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return null;
  }
  return crypto.subtle.verify({ name: "Ed25519" }, pub, sig.sig, note.body);
}

// checkInclusion runs every check above for an attestation (with or without its envelope) and the answers of
// GetInclusionProof and GetCheckpoint. It answers {verified, treeSize, checks: [{what, ok, detail}]}; a check
// with ok null could not run (no envelope, no Ed25519 in this browser) and does not fail the proof.
export async function checkInclusion(project, att, proofResp, checkpointResp) {
  const checks = [];
  const add = (what, ok, detail) => checks.push({ what, ok, detail: detail || "" });
  const receipt = att.receipt || {};
  const proof = proofResp.proof || {};
  const id = receipt.id;
  if (att.envelope) {
    add("the envelope hashes to the attestation id", hex(await sha256(b64(att.envelope))) === id);
  } else {
    add("the envelope hashes to the attestation id", null, "envelope not fetched");
  }
  const entry = await logEntry(project, id);
  const given = b64(proofResp.logEntry || receipt.logEntry);
  add("the log entry commits to this project and id", equal(entry, given));
  add("the proof is for the receipt's log index", String(proof.logIndex ?? "0") === String(receipt.logIndex ?? "0"));
  const note = parseCheckpoint(b64(proof.checkpoint));
  add("the checkpoint is of the proof's tree size", note.size === BigInt(proof.treeSize || 0));
  const leaf = await sha256(new Uint8Array([0]), entry);
  try {
    const root = await rootFromInclusion(proof.logIndex || 0, proof.treeSize || 0, leaf, (proof.hashes || []).map(b64));
    add("the audit path leads to the checkpoint's root", equal(root, note.root));
  } catch (e) {
    add("the audit path leads to the checkpoint's root", false, e.message);
  }
  try {
    const sig = await checkSignature(note, checkpointResp && checkpointResp.verifierKey);
    add(`the checkpoint is signed by the log key ${checkpointResp.verifierKey}`, sig, sig === null ? "this browser cannot check Ed25519" : "");
  } catch (e) {
    add("the checkpoint is signed by the log key", false, e.message);
  }
  return { verified: checks.every((c) => c.ok !== false), treeSize: note.size, checks };
}
