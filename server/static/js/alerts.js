// The alerts page: filter by rule, state, person and time; acknowledge or close with a note;
// each alert's evidence as readable text (the API's summary parts filled from the catalogue).
"use strict";

/** An alert's summary parts as one line: times in the site's zone, labels from the catalogue. */
function alertText(parts) {
  return parts.map((p) => {
    const vars = {...p.vars};
    for (const name of p.times) vars[name] = vars[name] ? GW.fmt(vars[name], "datetime") : "?";
    for (const [name, prefix] of Object.entries(p.labels)) vars[name] = GW.label(prefix, vars[name]);
    if (vars.camera != null) vars.camera = GW.cameraName(p.vars.gate, vars.camera);  // names, hours, scores as said
    for (const g of ["gate", "return_gate"]) if (vars[g] != null) vars[g] = GW.gateName(vars[g]);
    if (typeof vars.hours === "number") vars.hours = GW.duration(vars.hours * 3600);
    if (typeof vars.score === "number") vars.score = GW.pct(vars.score);
    for (const [k, v] of Object.entries(vars)) if (v == null) vars[k] = "";
    return GW.t(p.key, vars);
  }).join(GW.t("alerts.ev.join"));
}

GW.start(async (_me) => {
  const {t, api, el, fmt, $} = GW;

  function who(a) {
    if (a.person_name) {
      return el("a", {href: `/person/${encodeURIComponent(a.person_id)}`, cls: "person"}, `${a.person_name}（${a.person_id}）`);
    }
    if (a.person_id.startsWith("v-")) return el("span", {text: t("alerts.visitor", {id: a.person_id})});
    if (a.rule === "sighting" && a.person_id.startsWith("s-")) return el("span", {text: t("alerts.photo_search", {id: a.person_id})});
    return el("span", {text: a.person_id});
  }
  function history(a) {
    if (!a.history.length) return el("p", {cls: "history", text: t("alerts.no_history")});
    return el("ul", {cls: "history"}, ...a.history.map((h) => el("li", {cls: "step",
      text: t("alerts.step", {time: fmt(h.ts, "datetime"), user: h.user, state: GW.label("alert_state", h.state)})
        + (h.note ? ` — ${h.note}` : "")})));
  }
  function actions(a) {
    if (a.state === "closed") return el("td");
    const note = el("input", {cls: "note", placeholder: t("alerts.note_placeholder"), maxlength: "1000"});
    const act = (what) => async () => {
      try {
        const text = note.value.trim();
        await api(`/api/alerts/${a.id}/${what}`, {method: "POST", body: text ? {note: text} : {}});
        await load();
      } catch (e) { GW.showError(e); }
    };
    return el("td", {}, el("div", {cls: "act"}, note,
      a.state === "open" ? el("button", {type: "button", cls: "ack", onclick: act("acknowledge")}, t("alerts.ack")) : null,
      el("button", {type: "button", cls: "secondary close", onclick: act("close")}, t("alerts.close"))));
  }
  function row(a) {
    const high = a.rule === "watchlist_seen" && a.state === "open";
    return el("tr", {cls: high ? "high" : null, data: {id: a.id, state: a.state}},
      el("td", {cls: "when", text: fmt(a.created, "datetime")}),
      el("td", {text: GW.label("rule", a.rule)}),
      el("td", {}, who(a)),
      el("td", {cls: "evidence"}, el("div", {text: alertText(a.summary)}), history(a)),
      el("td", {}, el("span", {cls: `state ${a.state}`, text: GW.label("alert_state", a.state)})),
      actions(a));
  }
  async function load() {
    const q = new URLSearchParams();
    for (const [k, id] of [["rule", "f-rule"], ["state", "f-state"], ["person", "f-person"], ["since", "f-since"]]) {
      const v = $(id).value.trim();
      if (v) q.set(k, v);
    }
    const list = await api(`/api/alerts?${q}`);
    GW.showError(null);
    $("count").textContent = t("alerts.count", {n: list.length});
    $("rows").replaceChildren(...(list.length ? list.map(row)
      : [el("tr", {}, el("td", {colspan: "6", cls: "muted", text: t("alerts.none")}))]));
  }
  $("apply").addEventListener("click", () => load().catch(GW.showError));
  $("f-person").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("apply").click(); });
  for (const id of ["f-rule", "f-state", "f-since"]) $(id).addEventListener("change", () => $("apply").click());
  const asked = new URLSearchParams(location.search);
  for (const k of ["rule", "state", "person"]) if (asked.get(k)) $(`f-${k}`).value = asked.get(k);
  await load();
  // Refresh every 30 s, unless the officer is writing a note.
  const writing = () => [...document.querySelectorAll("input.note")].some((i) => i.value || i === document.activeElement);
  setInterval(() => { if (!writing()) load().catch(GW.showError); }, 30000);
});
