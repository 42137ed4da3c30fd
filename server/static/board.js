// The police-room board. Data is written as text (textContent), never as HTML: identities,
// gate names and person names are user input. Sign-in trades the token for an HttpOnly session
// cookie; the token is not kept in the page, and no URL carries a credential.
"use strict";
const $ = (id) => document.getElementById(id);
const api = async (path, opts = {}) => {
  const r = await fetch(path, {credentials: "same-origin", ...opts});
  const body = r.status === 204 ? {} : await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(typeof body.detail === "string" ? body.detail : r.statusText);
  return body;
};
const fmt = (iso) => new Date(iso).toLocaleString();
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  return td;
}
function tableRow(cls, ...cells) {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  tr.append(...cells);
  return tr;
}
const safeClass = (s) => (/^[a-z_]+$/.test(s ?? "") ? s : "");
function row(p) {
  return tableRow("passage", cell(fmt(p.ts)), cell(`${p.gate}/${p.camera}`),
                  cell(p.direction, safeClass(p.direction)), cell(p.role), cell(p.identity));
}
async function loadBoard() {
  const b = await api("/api/board");
  $("passages").replaceChildren(...b.passages.map(row));
  $("counts").textContent = Object.entries(b.counts_today).map(([k, v]) => `${k}: ${v}`).join(" · ") || "none yet";
  $("gates").replaceChildren(...b.gates.map((g) => tableRow("", cell(`${g.gate}/${g.camera}`),
    cell(g.state, safeClass(g.state)), cell(g.camera_state, safeClass(g.camera_state)))));
  $("alerts").textContent = b.open_alerts;
}
let refresh = null;
function refreshSoon() {  // counts and gates follow the stream, at most once a second
  if (!refresh) refresh = setTimeout(() => { refresh = null; loadBoard(); }, 1000);
}
function live() {
  const es = new EventSource("/api/board/stream");  // the session cookie authenticates it
  es.onmessage = (m) => {
    const item = JSON.parse(m.data);
    if (item.topic === "passage") { $("passages").prepend(row(item)); refreshSoon(); }
    else loadBoard();
  };
}
async function start() {
  try {
    const me = await api("/api/me");
    await loadBoard();
    $("who").textContent = `${me.name} (${me.role})`;
  } catch (e) { $("loginerr").textContent = e.message; return false; }
  $("login").hidden = true; $("nav").hidden = false; $("board").classList.add("on");
  live();
  return true;
}
$("signin").onclick = async () => {
  $("loginerr").textContent = "";
  const token = $("token").value.trim();
  $("token").value = "";
  try {
    await api("/api/login", {method: "POST", headers: {Authorization: "Bearer " + token}});
  } catch (e) { $("loginerr").textContent = e.message; return; }
  start();
};
document.querySelectorAll("header button").forEach((b) => b.onclick = () => {
  document.querySelectorAll("header button").forEach((x) => x.classList.toggle("on", x === b));
  document.querySelectorAll("main").forEach((m) => m.classList.toggle("on", m.id === b.dataset.tab));
});
$("pgo").onclick = async () => {
  $("perr").textContent = "";
  try {
    const q = new URLSearchParams({since: "48h", reason: $("preason").value});
    const t = await api(`/api/trajectory/${encodeURIComponent($("pid").value)}?${q}`);
    const w = t.whereabouts;
    $("pwhere").textContent = w.last_seen ? `Last seen ${fmt(w.last_seen)} at ${w.gate}/${w.camera}; ${w.inside ? "inside" : "outside"} for ${w.for_hours} h` : "Not seen in this window.";
    $("ptimeline").replaceChildren(...t.passages.map((p) => { const li = document.createElement("li"); li.textContent = `${fmt(p.ts)} ${p.direction} at ${p.gate}/${p.camera}`; return li; }));
  } catch (e) { $("perr").textContent = e.message; }
};
let sse = null, current = null;
$("sgo").onclick = async () => {
  $("serr").textContent = "";
  try {
    const a = await api("/api/searches", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify({person_id: $("sid").value, reason: $("sreason").value})});
    current = a.search_id;
    $("sanswer").textContent = a.note || (a.whereabouts && a.whereabouts.last_seen ? `Last seen ${fmt(a.whereabouts.last_seen)} at ${a.whereabouts.gate}; believed ${a.believed_inside ? "inside" : "outside"}.` : "");
    $("sclose").hidden = false;
    if (sse) sse.close();
    sse = new EventSource(`/api/searches/${encodeURIComponent(current)}/stream`);
    sse.onmessage = (m) => { const s = JSON.parse(m.data); const li = document.createElement("li"); li.className = "sighting"; li.textContent = `${fmt(s.ts)} at ${s.gate}/${s.camera}`; $("ssightings").prepend(li); };
  } catch (e) { $("serr").textContent = e.message; }
};
$("sclose").onclick = async () => {
  await api(`/api/searches/${encodeURIComponent(current)}/close`, {method: "POST"});
  if (sse) sse.close();
  $("sclose").hidden = true;
};
start().then((ok) => { if (!ok) $("loginerr").textContent = ""; });  // resume a live session
