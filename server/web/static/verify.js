// The verify form and its verdict: attestd's answer to "may this artifact be deployed?", with the layout and
// policy that decided, the attestations used for each step, and every reason of a denial.

import { clear, el, when } from "./dom.js";

// renderDecision shows a Decision in container; onStep(id) opens an attestation used for a step.
export function renderDecision(container, d, onStep) {
  d = d || {};
  const verdict = el("p", { id: "verdict-word", class: d.allowed ? "verdict allowed" : "verdict denied", role: "status" },
    d.allowed ? "allowed" : "denied");
  const what = el("p", { class: "verdict-of" }, `${d.kind || ""} ${d.name || ""} `, el("code", {}, d.digest || ""));
  const facts = el("dl", { id: "verdict-facts" },
    el("dt", {}, "layout"), el("dd", { id: "verdict-layout" }, d.layoutName ? `${d.layoutName} version ${d.layoutVersion ?? "0"}` : "none"),
    el("dt", {}, "policy"), el("dd", { id: "verdict-policy" }, d.policyName || "none"),
    el("dt", {}, "decided"), el("dd", {}, when(d.decidedAt), d.id ? ` (decision ${d.id})` : ""));
  const steps = el("table", { id: "verdict-steps" },
    el("thead", {}, el("tr", {}, el("th", {}, "step"), el("th", {}, "attestations used"), el("th", {}, "reasons"))));
  const body = el("tbody", {});
  for (const s of d.steps || []) {
    const ids = s.attestationIds || [];
    body.append(el("tr", { "data-step": s.name || "" },
      el("td", { class: "step-name" }, s.name || ""),
      el("td", {}, ids.length ? ids.map((id) => el("button", { type: "button", class: "link", "data-id": id, on: { click: () => onStep(id) } }, id.slice(0, 12))) : "none"),
      el("td", {}, reasonList(s.reasons))));
  }
  steps.append(body);
  const reasons = d.reasons || [];
  container.replaceChildren(verdict, what, facts,
    (d.steps || []).length ? steps : el("p", {}, "no step was judged"),
    el("h4", {}, reasons.length ? "reasons" : "no reason given"),
    el("ul", { id: "verdict-reasons" }, reasons.map((r) => el("li", {}, r))));
}

function reasonList(rs) {
  if (!rs || !rs.length) return "\u2014";
  return el("ul", {}, rs.map((r) => el("li", {}, r)));
}

// renderDependents lists the artifacts built, directly or not, from a digest (its blast radius).
export function renderDependents(container, resp, onArtifact) {
  clear(container);
  const deps = resp.dependents || [];
  if (!deps.length) {
    container.append(el("p", { id: "dependents-none" }, "nothing recorded in this project was built from this digest"));
    return;
  }
  const ul = el("ul", { id: "dependents-list" });
  for (const dep of deps) {
    const a = dep.artifact || {};
    const d = `${a.algorithm}:${a.digest}`;
    ul.append(el("li", { "data-digest": d },
      el("button", { type: "button", class: "link digest", on: { click: () => onArtifact(d) } }, `${a.name || "(unnamed)"} ${d}`),
      ` by step ${dep.step || ""} (depth ${dep.depth || 1}, via ${dep.via || ""}), `, when(dep.integratedTime)));
  }
  container.append(ul);
  if (resp.truncated) container.append(el("p", { class: "truncated" }, "truncated: more artifacts may depend on this digest"));
}
