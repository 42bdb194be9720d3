// DOM helpers. Everything the server says reaches the page through these: text is always set with
// textContent and attributes with setAttribute, never parsed as HTML, so an attestation whose step is
// "<img src=x onerror=...>" shows those characters and creates no element.

const SVG_NS = "http://www.w3.org/2000/svg";

// el builds an HTML element: el("li", {class: "x", "data-id": id}, "text", child, ...). Attribute values and
// text children are data, never markup. An "on" attribute maps event names to handlers.
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// svg builds an SVG element the same way.
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    } else {
      node.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// clear empties a container.
export function clear(node) {
  node.replaceChildren();
  return node;
}

// byId returns the element with the given id of index.html.
export function byId(id) {
  const n = document.getElementById(id);
  if (!n) throw new Error(`index.html has no #${id}`);
  return n;
}

// clip shortens a label for the graph; the full text stays in a <title> and in the text list.
export function clip(s, n) {
  s = String(s ?? "");
  return s.length <= n ? s : s.slice(0, n - 1) + "\u2026";
}

// shortDigest is "sha256:0123456789ab…" for labels.
export function shortDigest(d) {
  const i = d.indexOf(":");
  return i < 0 ? clip(d, 16) : d.slice(0, i + 1) + clip(d.slice(i + 1), 13);
}

// digestOf joins an ArtifactRef's algorithm and hex value.
export function digestOf(ref) {
  return `${ref.algorithm}:${ref.digest}`;
}

// when formats an RFC 3339 timestamp of the API for people, in UTC, keeping the original in a title.
export function when(ts) {
  if (!ts) return el("span", {}, "\u2014");
  const d = new Date(ts);
  const text = Number.isNaN(d.getTime()) ? ts : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  return el("time", { datetime: ts, title: ts }, text);
}

// button is a plain button of type "button".
export function button(label, onclick, attrs) {
  return el("button", { type: "button", ...attrs, on: { click: onclick } }, label);
}
