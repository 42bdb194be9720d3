// One attestation in full: what it says (step, types, subjects, materials), who signed and submitted it,
// where it is in the transparency log, whether its inclusion proof checks out here in the browser, and its
// Rekor anchor when the project anchors.

import { digestOf, el, when } from "./dom.js";
import { checkInclusion } from "./proof.js";

// maxListedArtifacts bounds the subjects or materials written out (a step can record thousands of files).
const maxListedArtifacts = 500;

// renderDetails fills container for the attestation id of project. It shows what it has at once (att, a
// summary without envelope, may be null) and fills in the rest as the calls answer. onArtifact(digest) runs
// when a subject or material digest is chosen; isCurrent() says whether the panel still shows this
// attestation (another click may have replaced it while the calls ran).
export async function renderDetails(container, client, project, id, att, { onArtifact, isCurrent }) {
  const status = el("span", { id: "proof-status", class: "pending" }, "checking the inclusion proof\u2026");
  const checks = el("ul", { id: "proof-checks", class: "checks" });
  const show = (a) => {
    const r = a.receipt || {};
    const dl = el("dl", { id: "details-list" });
    const row = (label, ...value) => dl.append(el("dt", {}, label), el("dd", { "data-field": label }, ...value));
    row("id", el("code", {}, r.id || id));
    row("step", r.step || "\u2014");
    row("predicate type", r.predicateType || "\u2014");
    row("statement type", a.statementType || "\u2014");
    row("subjects", artifacts(a.subjects, onArtifact));
    row("materials", artifacts(a.materials, onArtifact));
    row("signer key ids", keyList(a.signerKeyIds));
    row("submitter", a.submitter ? el("code", {}, a.submitter) : "\u2014");
    row("integrated time", when(r.integratedTime));
    row("log index", String(r.logIndex ?? "0"));
    row("inclusion proof", status, checks);
    row("Rekor anchor", anchor(a.anchor, r.anchorState));
    container.replaceChildren(el("h3", {}, "step ", el("span", { class: "step-name" }, r.step || "")), dl);
  };
  if (att) show(att);
  let full = att;
  try {
    full = (await client.attestation(project, id)).attestation || att;
    if (!isCurrent()) return;
    show(full);
  } catch (e) {
    if (!isCurrent()) return;
    if (!att) {
      container.replaceChildren(el("p", { class: "error", role: "alert" }, `attestation ${id}: ${e.message}`));
      return;
    }
  }
  try {
    const [proof, cp] = await Promise.all([client.inclusionProof(project, id), client.checkpoint()]);
    const res = await checkInclusion(project, full, proof, cp);
    if (!isCurrent()) return;
    status.className = res.verified ? "ok" : "bad";
    status.textContent = `included in tree of size ${res.treeSize} \u2014 ${res.verified ? "verified" : "does not verify"}`;
    checks.replaceChildren(...res.checks.map((c) => el("li", { class: c.ok === null ? "skipped" : c.ok ? "ok" : "bad" },
      c.ok === null ? "not checked: " : c.ok ? "\u2713 " : "\u2717 ", c.what, c.detail ? ` (${c.detail})` : "")));
  } catch (e) {
    if (!isCurrent()) return;
    status.className = "bad";
    status.textContent = `no inclusion proof: ${e.message}`;
  }
}

function artifacts(refs, onArtifact) {
  refs = refs || [];
  if (!refs.length) return "none";
  const ul = el("ul", { class: "artifacts" });
  for (const r of refs.slice(0, maxListedArtifacts)) {
    const d = digestOf(r);
    ul.append(el("li", {}, el("span", { class: "name" }, r.name || "(unnamed)"), " ",
      el("button", { type: "button", class: "link digest", "data-digest": d, title: "search this digest", on: { click: () => onArtifact(d) } }, d)));
  }
  if (refs.length > maxListedArtifacts) ul.append(el("li", {}, `and ${refs.length - maxListedArtifacts} more`));
  return ul;
}

function keyList(ids) {
  if (!ids || !ids.length) return "none";
  return el("ul", { class: "keys" }, ids.map((k) => el("li", {}, el("code", {}, k))));
}

// anchor describes the Rekor upload of the attestation.
function anchor(a, state) {
  if (!a || !a.state) return state ? state : "not anchored (the project does not anchor in Rekor)";
  if (a.state === "done" && a.entry) {
    const e = a.entry;
    return el("span", {}, `done: Rekor log index ${e.logIndex ?? "0"}, entry `, el("code", {}, e.uuid || ""), ", integrated ", when(e.integratedTime));
  }
  if (a.state === "failed") return `failed after ${a.attempts || 0} attempt(s): ${a.lastError || "no error recorded"}`;
  return el("span", {}, `${a.state} (${a.attempts || 0} attempt(s) so far; next `, when(a.nextAttemptTime), ")");
}
