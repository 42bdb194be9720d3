// The provenance graph of an artifact, laid out here and drawn as SVG: the artifact on the right, each
// earlier step one layer further left, the sources at the far left. Attestations are boxes labelled with
// their step, artifacts are ellipses with their name and short digest, arrows run the way the build ran
// (material -> step -> product). The same graph is also written out as a list, for screen readers.

import { clip, digestOf, el, shortDigest, svg } from "./dom.js";

// maxMaterialsDrawn bounds the material ellipses drawn per attestation: a build step can record thousands of
// source files. Those that link to another step, and sources, are drawn first; the rest are counted.
const maxMaterialsDrawn = 6;
// maxListedMaterials bounds the materials written per attestation in the list.
const maxListedMaterials = 200;

const box = { w: 170, h: 44 };
const oval = { rx: 92, ry: 26 };
const colGap = 230;
const rowGap = 70;
const margin = 24;

// model turns a ProvenanceResponse into artifacts, attestations and edges with a column each: column 0 is
// the artifact, attestations of depth d are in column 2d-1 and the materials they consume in column 2d.
export function model(prov) {
  const digest = prov.digest;
  const sources = new Set((prov.sources || []).map(digestOf));
  const atts = new Map();
  for (const n of prov.nodes || []) {
    const a = n.attestation || {};
    const r = a.receipt || {};
    if (!r.id || atts.has(r.id)) continue;
    atts.set(r.id, { key: "a:" + r.id, id: r.id, step: r.step || "", depth: n.depth || 1, att: a, col: 2 * (n.depth || 1) - 1 });
  }
  const arts = new Map();
  const artifact = (ref, col) => {
    const d = digestOf(ref);
    let x = arts.get(d);
    if (!x) {
      x = { key: "d:" + d, digest: d, name: ref.name || "", col, source: sources.has(d) };
      arts.set(d, x);
    }
    if (!x.name && ref.name) x.name = ref.name;
    x.col = Math.max(x.col, col);
    return x;
  };
  const links = [];
  const producedBy = new Map();
  for (const e of prov.edges || []) {
    const d = digestOf(e.material || {});
    if (!producedBy.has(d)) producedBy.set(d, new Set());
    producedBy.get(d).add(e.producerId);
  }
  const target = arts.get(digest) || artifact({ name: "", algorithm: digest.split(":")[0], digest: digest.split(":")[1] }, 0);
  let hidden = 0;
  for (const a of atts.values()) {
    for (const s of a.att.subjects || []) {
      if (digestOf(s) === digest && a.depth === 1) {
        if (!target.name) target.name = s.name;
        links.push({ from: a.key, to: target.key });
      }
    }
    const mats = [...(a.att.materials || [])];
    const rank = (m) => (producedBy.has(digestOf(m)) ? 0 : sources.has(digestOf(m)) ? 1 : 2);
    mats.sort((x, y) => rank(x) - rank(y));
    mats.forEach((m, i) => {
      if (i >= maxMaterialsDrawn && rank(m) > 0) {
        hidden++;
        a.hidden = (a.hidden || 0) + 1;
        return;
      }
      const x = artifact(m, a.col + 1);
      links.push({ from: x.key, to: a.key });
      for (const p of producedBy.get(x.digest) || []) {
        const pa = atts.get(p);
        if (pa) links.push({ from: pa.key, to: x.key });
      }
    });
  }
  const seen = new Set();
  const edges = links.filter((l) => !seen.has(l.from + ">" + l.to) && seen.add(l.from + ">" + l.to));
  return { digest, target, atts, arts, edges, producedBy, sources, sourceRefs: prov.sources || [], hidden, truncated: !!prov.truncated };
}

// layout gives every node x and y: columns right to left, and within a column an order by the mean position
// of the node's neighbours (barycentre), swept from the artifact back, then forth, then back again with both sides,
// so that edges cross less.
function layout(m) {
  const nodes = [...m.atts.values(), ...m.arts.values()];
  const cols = new Map();
  for (const n of nodes) {
    if (!cols.has(n.col)) cols.set(n.col, []);
    cols.get(n.col).push(n);
  }
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const right = new Map();
  const left = new Map();
  for (const e of m.edges) {
    if (!right.has(e.from)) right.set(e.from, []);
    right.get(e.from).push(byKey.get(e.to));
    if (!left.has(e.to)) left.set(e.to, []);
    left.get(e.to).push(byKey.get(e.from));
  }
  const maxCol = Math.max(0, ...cols.keys());
  const order = (c, neighbours) => {
    const col = cols.get(c) || [];
    const centre = new Map(col.map((n) => {
      const ys = (neighbours.get(n.key) || []).filter((x) => x && x.row !== undefined).map((x) => x.row);
      return [n, ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : n.row ?? Infinity];
    }));
    col.sort((a, b) => centre.get(a) - centre.get(b) || (a.step || a.name || "").localeCompare(b.step || b.name || "") || a.key.localeCompare(b.key));
    col.forEach((n, i) => (n.row = i - (col.length - 1) / 2));
  };
  for (let c = 0; c <= maxCol; c++) order(c, right);
  for (let c = maxCol - 1; c >= 0; c--) order(c, left);
  const both = new Map([...byKey.keys()].map((k) => [k, [...(left.get(k) || []), ...(right.get(k) || [])]]));
  for (let c = 1; c <= maxCol; c++) order(c, both);
  const tallest = Math.max(1, ...[...cols.values()].map((c) => c.length));
  const width = 2 * margin + maxCol * colGap + 2 * oval.rx;
  const height = 2 * margin + tallest * rowGap;
  for (const n of nodes) {
    n.x = width - margin - oval.rx - n.col * colGap;
    n.y = height / 2 + n.row * rowGap;
  }
  return { width, height, byKey };
}

// draw renders the model as an SVG element; onStep(id) runs when an attestation box is chosen and
// onArtifact(digest) when an artifact is.
export function draw(m, { onStep, onArtifact }) {
  const { width, height, byKey } = layout(m);
  const root = svg("svg", {
    id: "graph-svg", class: "graph", viewBox: `0 0 ${width} ${height}`, width, height,
    role: "img", "aria-label": `provenance graph of ${m.digest}: ${m.atts.size} attestation(s)`,
  });
  root.append(svg("defs", {}, svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse",
  }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
  const edgeLayer = svg("g", { class: "edges" });
  root.append(edgeLayer);
  for (const e of m.edges) {
    const a = byKey.get(e.from);
    const b = byKey.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + halfWidth(a);
    const x2 = b.x - halfWidth(b);
    const mid = (x1 + x2) / 2;
    edgeLayer.append(svg("path", {
      class: "edge", d: `M ${x1} ${a.y} C ${mid} ${a.y}, ${mid} ${b.y}, ${x2} ${b.y}`, "marker-end": "url(#arrow)",
    }));
  }
  for (const a of m.atts.values()) root.append(stepBox(a, onStep));
  for (const x of m.arts.values()) root.append(artifactOval(x, m, onArtifact));
  return root;
}

function halfWidth(n) {
  return n.id ? box.w / 2 : oval.rx;
}

// activate makes an SVG group behave as a button for mouse and keyboard.
function activate(g, fn) {
  g.setAttribute("tabindex", "0");
  g.setAttribute("role", "button");
  g.addEventListener("click", fn);
  g.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      fn();
    }
  });
  return g;
}

function stepBox(a, onStep) {
  const g = svg("g", { class: "node step", "data-id": a.id, "data-step": a.step, transform: `translate(${a.x} ${a.y})` },
    svg("title", {}, `step ${a.step}, attestation ${a.id}`),
    svg("rect", { x: -box.w / 2, y: -box.h / 2, width: box.w, height: box.h, rx: 6 }),
    svg("text", { class: "label", y: a.hidden ? -4 : 5, "text-anchor": "middle" }, clip(a.step, 22)));
  if (a.hidden) g.append(svg("text", { class: "sub", y: 14, "text-anchor": "middle" }, `+${a.hidden} more material(s)`));
  return activate(g, () => onStep(a.id));
}

function artifactOval(x, m, onArtifact) {
  const kind = x.digest === m.digest ? "target" : x.source ? "source" : m.producedBy.has(x.digest) ? "built" : "unfollowed";
  const g = svg("g", { class: `node artifact ${kind}`, "data-digest": x.digest, transform: `translate(${x.x} ${x.y})` },
    svg("title", {}, `${x.name || "(unnamed)"} ${x.digest}${kind === "source" ? " (source)" : ""}`),
    svg("ellipse", { rx: oval.rx, ry: oval.ry }),
    svg("text", { class: "label", y: -3, "text-anchor": "middle" }, clip(x.name || "(unnamed)", 24)),
    svg("text", { class: "sub", y: 13, "text-anchor": "middle" }, (kind === "source" ? "source \u00b7 " : "") + shortDigest(x.digest)));
  return activate(g, () => onArtifact(x.digest));
}

// list writes the graph as nested lists: one item per attestation, in the answer's order, with what it
// produced and consumed; then the sources.
export function list(m, { onStep, onArtifact }) {
  const ol = el("ol", { id: "graph-list-items", class: "graph-list" });
  const artLink = (ref) => el("button", { type: "button", class: "link digest", "data-digest": digestOf(ref), on: { click: () => onArtifact(digestOf(ref)) } },
    `${ref.name || "(unnamed)"} ${digestOf(ref)}`);
  for (const a of m.atts.values()) {
    const inner = el("ul", {});
    for (const s of a.att.subjects || []) {
      if (a.depth === 1 ? digestOf(s) !== m.digest : !m.producedBy.has(digestOf(s))) continue;
      inner.append(el("li", {}, "produced ", artLink(s)));
    }
    const mats = a.att.materials || [];
    for (const mat of mats.slice(0, maxListedMaterials)) {
      const d = digestOf(mat);
      const from = [...(m.producedBy.get(d) || [])].map((p) => m.atts.get(p)).filter(Boolean);
      inner.append(el("li", {}, "consumed ", artLink(mat),
        from.length ? ` made by step ${from.map((p) => p.step).join(", ")}` : m.sources.has(d) ? " (source)" : m.truncated ? " (not followed)" : ""));
    }
    if (mats.length > maxListedMaterials) inner.append(el("li", {}, `and ${mats.length - maxListedMaterials} more materials`));
    ol.append(el("li", { class: "graph-step", "data-id": a.id, "data-step": a.step },
      el("button", { type: "button", class: "link step-name", on: { click: () => onStep(a.id) } }, `step ${a.step}`),
      ` (depth ${a.depth}, attestation ${a.id.slice(0, 12)})`, inner));
  }
  if (m.sourceRefs.length) {
    ol.append(el("li", { class: "graph-sources" }, "sources", el("ul", {}, m.sourceRefs.map((s) => el("li", {}, artLink(s))))));
  }
  return ol;
}
