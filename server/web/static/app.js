// The page's entry point: the session (token and project), hash routing, and the search that fills the
// graph, the dependents and the verify form. Routes, so that a URL can be shared (it never holds the token):
//
//   #/p/PROJECT                          a project, nothing searched
//   #/p/PROJECT/digest/ALG:HEX           an artifact
//   #/p/PROJECT/digest/ALG:HEX/a/ID      an artifact, with one attestation of its graph opened

import { APIError, Client, parseDigest } from "./api.js";
import { renderDetails } from "./details.js";
import { byId, clear, el } from "./dom.js";
import { draw, list, model } from "./graph.js";
import { renderDecision, renderDependents } from "./verify.js";

const tokenKey = "attestd.token";
const projectKey = "attestd.project";

// state is what the page shows now; gen counts searches, so that a slow answer to an older one is dropped.
const state = { client: new Client(sessionStorage.getItem(tokenKey) || ""), project: "", digest: "", loaded: "", gen: 0, detailsGen: 0, atts: new Map() };

function say(id, text, kind) {
  const p = byId(id);
  p.textContent = text;
  p.className = kind || "";
}

// route reads the hash and shows what it names.
function route() {
  const m = /^#\/p\/([^/]+)(?:\/digest\/([^/]+)(?:\/a\/([0-9a-f]{64}))?)?\/?$/.exec(location.hash);
  if (!m) return;
  let project, digest;
  try {
    project = decodeURIComponent(m[1]);
    digest = m[2] ? decodeURIComponent(m[2]) : "";
  } catch {
    return;
  }
  byId("project").value = project;
  state.project = project;
  if (!digest) return;
  byId("digest").value = digest;
  const canonical = parseDigest(digest);
  if (!canonical) {
    say("status", `not a digest: ${digest} (want sha256:HEX or 64 hex digits)`, "error");
    return;
  }
  if (!state.client.token) {
    say("status", "type a token first: attestd's API answers only to a token of the project", "error");
    return;
  }
  const key = `${project}\n${canonical}`;
  const load = state.loaded === key ? Promise.resolve() : search(project, canonical);
  state.loaded = key;
  if (m[3]) load.then(() => openAttestation(m[3]));
}

// segment encodes one part of a route; ':' stays as it is, so that a shared URL shows "sha256:...".
function segment(s) {
  return encodeURIComponent(s).replace(/%3A/gi, ":");
}

function go(project, digest, id) {
  let h = `#/p/${segment(project)}`;
  if (digest) h += `/digest/${segment(digest)}`;
  if (digest && id) h += `/a/${id}`;
  if (location.hash === h) route();
  else location.hash = h;
}

// search loads everything about one digest.
async function search(project, digest) {
  const gen = ++state.gen;
  state.project = project;
  state.digest = digest;
  state.atts = new Map();
  say("status", `looking up ${digest}\u2026`, "pending");
  byId("graph-digest").textContent = digest;
  for (const id of ["graph", "graph-list", "details", "dependents", "verdict"]) clear(byId(id));
  byId("details-section").hidden = true;
  byId("graph-section").hidden = false;
  byId("dependents-section").hidden = false;
  byId("graph-truncated").hidden = true;
  byId("graph-summary").textContent = "";
  const client = state.client;
  const [prov, deps] = await Promise.allSettled([provenance(client, project, digest), client.dependents(project, digest)]);
  if (gen !== state.gen) return;
  if (deps.status === "fulfilled") renderDependents(byId("dependents"), deps.value, searchDigest);
  else byId("dependents").append(el("p", { class: "error" }, `dependents: ${deps.reason.message}`));
  if (prov.status === "rejected") {
    say("status", prov.reason.message, "error");
    byId("graph-section").hidden = true;
    prefillVerify(digest, "");
    return;
  }
  const m = model(prov.value);
  for (const a of m.atts.values()) state.atts.set(a.id, a.att);
  const handlers = { onStep: (id) => go(project, digest, id), onArtifact: searchDigest };
  if (m.atts.size === 0) {
    say("status", `no attestation of project ${project} has ${digest} as a subject`, "");
  } else {
    say("status", prov.value.note || "", "");
    byId("graph").append(draw(m, handlers));
    byId("graph-list").append(list(m, handlers));
  }
  byId("graph-summary").textContent = `${m.atts.size} attestation(s), ${m.sourceRefs.length} source(s)`;
  byId("graph-truncated").hidden = !m.truncated;
  prefillVerify(digest, m.target.name);
}

// provenance asks for the graph; an attestd without the Provenance route gets the digest's own attestations.
async function provenance(client, project, digest) {
  try {
    return await client.provenance(project, digest);
  } catch (e) {
    if (!(e instanceof APIError) || e.status !== 501) throw e;
    const list = await client.attestations(project, digest);
    return {
      digest, edges: [], sources: [], truncated: false,
      nodes: (list.attestations || []).map((attestation) => ({ attestation, depth: 1 })),
      note: "this attestd does not serve provenance graphs: showing only the attestations of this digest",
    };
  }
}

function searchDigest(digest) {
  go(state.project, digest);
}

// openAttestation shows one attestation's details below the graph.
function openAttestation(id) {
  const gen = ++state.detailsGen;
  const section = byId("details-section");
  section.hidden = false;
  renderDetails(byId("details"), state.client, state.project, id, state.atts.get(id) || null, {
    onArtifact: searchDigest,
    isCurrent: () => gen === state.detailsGen,
  });
  section.scrollIntoView({ block: "nearest" });
}

// prefillVerify fills the verify form for the artifact searched, guessing its kind from its name.
function prefillVerify(digest, name) {
  byId("verify-section").hidden = false;
  byId("verify-digest").value = digest;
  byId("verify-name").value = name || "";
  let kind = "file";
  if (/^pkg:/.test(name)) kind = "package";
  else if (/^[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?\/[^\s]+$/i.test(name) && !/\.(deb|rpm|tar|gz|zip|json|yaml|yml)$/.test(name)) kind = "image";
  byId("verify-kind").value = kind;
}

async function verify(ev) {
  ev.preventDefault();
  const out = byId("verdict");
  const digest = parseDigest(byId("verify-digest").value);
  const name = byId("verify-name").value.trim();
  if (!digest) {
    out.replaceChildren(el("p", { class: "error", role: "alert" }, "the digest is not sha256:HEX or 64 hex digits"));
    return;
  }
  if (!name) {
    out.replaceChildren(el("p", { class: "error", role: "alert" }, "give the artifact's name: the policy is chosen by kind and name"));
    return;
  }
  out.replaceChildren(el("p", { class: "pending" }, "verifying\u2026"));
  try {
    const resp = await state.client.verify(state.project, byId("verify-kind").value, name, digest);
    renderDecision(out, resp.decision, (id) => go(state.project, state.digest, id));
  } catch (e) {
    out.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
}

// useToken keeps the token for this tab (sessionStorage: gone when the tab closes, never sent anywhere but
// attestd's own API) and lists the projects it can see.
async function useToken(ev) {
  if (ev) ev.preventDefault();
  const input = byId("token");
  const token = input.value.trim();
  if (token) {
    sessionStorage.setItem(tokenKey, token);
    state.client = new Client(token);
    input.value = "";
  }
  if (!state.client.token) {
    say("session-status", "no token: type one (attest token create --role reader makes one)", "error");
    return;
  }
  input.placeholder = "a token is kept for this tab";
  byId("token-forget").disabled = false;
  try {
    const resp = await state.client.projects();
    const names = (resp.projects || []).map((p) => p.name);
    byId("project-list").replaceChildren(...names.map((n) => el("option", { value: n })));
    const project = byId("project");
    if (!project.value && names.length) project.value = sessionStorage.getItem(projectKey) || names[0];
    state.project = project.value.trim();
    say("session-status", `token accepted; ${names.length === 1 ? "project " + names[0] : names.length + " projects"}`, "ok");
  } catch (e) {
    say("session-status", e.message, "error");
    return;
  }
  state.loaded = "";
  route();
}

function forgetToken() {
  sessionStorage.removeItem(tokenKey);
  state.client = new Client("");
  state.loaded = "";
  byId("token").value = "";
  byId("token").placeholder = "bearer token (kept in this tab only)";
  byId("token-forget").disabled = true;
  say("session-status", "token forgotten", "");
}

function onSearch(ev) {
  ev.preventDefault();
  const raw = byId("digest").value;
  const digest = parseDigest(raw);
  const project = byId("project").value.trim();
  if (!digest) return say("status", `not a digest: ${raw.trim() || "(empty)"} (want sha256:HEX or 64 hex digits)`, "error");
  if (!project) return say("status", "choose a project first", "error");
  if (!state.client.token) return say("status", "type a token first", "error");
  state.loaded = "";
  go(project, digest);
}

function start() {
  byId("session-form").addEventListener("submit", useToken);
  byId("token-forget").addEventListener("click", forgetToken);
  byId("search-form").addEventListener("submit", onSearch);
  byId("verify-form").addEventListener("submit", verify);
  byId("project").addEventListener("change", () => {
    state.project = byId("project").value.trim();
    sessionStorage.setItem(projectKey, state.project);
  });
  window.addEventListener("hashchange", route);
  byId("token-forget").disabled = !state.client.token;
  if (state.client.token) useToken();
  else {
    route();
    say("session-status", "type a token to start", "");
  }
}

start();
