// The alerts page: filter by rule, state, person and time, page through; acknowledge or close
// one with a note, or acknowledge several (chosen, or all open ones the filters match) after a
// confirm step; repeats of one person and rule show as one row with its count. Live: the wall's
// stream says when an alert arrives or changes, the list reloads at once (a beep once enabled).
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
  const PAGE = 50;
  let offset = 0;
  let total = 0;
  let newest = 0;  // the newest id matching the filters when last listed (bulk ack goes no further)
  let listedAt = null;  // the server's time when the shown list was made: an acknowledgement
  // leaves an alert with a later occurrence (a repeat merged since) open, as not yet seen
  const onlyId = Number(new URLSearchParams(location.search).get("id")) || null;  // a pushed message's link
  let shown = [];
  const picked = new Set();
  const sound = GW.sound($("sound"), $("sound-on"));

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
        if (what === "acknowledge") {  // only as seen: not if a repeat merged in since the list
          const r = await api("/api/alerts/acknowledge", {method: "POST", body: {ids: [a.id], upto_ts: listedAt, ...(text ? {note: text} : {})}});
          done(r);
        } else {
          await api(`/api/alerts/${a.id}/${what}`, {method: "POST", body: text ? {note: text} : {}});
        }
        note.value = "";
        await load();
      } catch (e) { GW.showError(e); }
    };
    return el("td", {}, el("div", {cls: "act"}, note,
      a.state === "open" ? el("button", {type: "button", cls: "ack", onclick: act("acknowledge")}, t("alerts.ack")) : null,
      el("button", {type: "button", cls: "secondary close", onclick: act("close")}, t("alerts.close"))));
  }
  /** A merged alert's count, and each occurrence on demand. */
  function repeats(a) {
    if (a.count < 2) return null;
    const list = el("ol", {cls: "repeats", hidden: ""});
    const toggle = el("button", {type: "button", cls: "link", text: t("alerts.show_repeats"), onclick: async () => {
      if (list.hidden && !list.children.length) {
        try {
          const rows = await api(`/api/alerts/${a.id}/repeats`);
          list.replaceChildren(...rows.map((r) => el("li", {text: `${fmt(r.ts, "datetime")}  ${alertText(r.summary)}`})));
        } catch (e) { GW.showError(e); return; }
      }
      list.hidden = !list.hidden;
      toggle.textContent = t(list.hidden ? "alerts.show_repeats" : "alerts.hide_repeats");
    }});
    return el("div", {cls: "repeat"},
      el("span", {cls: "count", text: t("alerts.repeat_times", {n: a.count})}), " ",
      el("span", {cls: "muted", text: t("alerts.repeat_detail", {n: a.count, first: fmt(a.created, "datetime")})}), " ",
      toggle, list);
  }

  /** A watchlist or sighting alert's passage crop (a watchlist one is pushed and kept). */
  function crop(a) {
    const ev = a.evidence || {};
    if (!ev.event_id || !["watchlist_seen", "sighting"].includes(a.rule)) return null;
    const alt = GWFaces.alt({gate: ev.gate || "", camera: ev.camera || "", ts: ev.ts || a.created});
    return GWFaces.box(ev.event_id, {size: "m", alt});
  }
  function row(a) {
    const high = a.rule === "watchlist_seen" && a.state === "open";
    const pick = a.state === "open"
      ? el("input", {type: "checkbox", cls: "pick", "aria-label": t("alerts.select_one"), onchange: (ev) => {
        if (ev.target.checked) picked.add(a.id); else picked.delete(a.id);
        bulkButtons();
      }}) : null;
    if (pick && picked.has(a.id)) pick.checked = true;
    return el("tr", {cls: high ? "high" : null, data: {id: a.id, state: a.state, count: a.count}},
      el("td", {cls: "pick"}, pick),
      el("td", {cls: "when"}, el("div", {text: fmt(a.last_ts, "datetime")}),
        a.count > 1 ? el("div", {cls: "muted first", text: t("alerts.first_at", {time: fmt(a.created, "datetime")})}) : null),
      el("td", {text: GW.label("rule", a.rule)}),
      el("td", {}, who(a)),
      el("td", {cls: "evidence"}, el("div", {cls: "alert-face"}, crop(a), el("div", {text: alertText(a.summary)})), repeats(a), history(a)),
      el("td", {}, el("span", {cls: `state ${a.state}`, text: GW.label("alert_state", a.state)})),
      actions(a));
  }

  // -- the list's filters, as the API's query and as a bulk acknowledgement's "matching" ----
  function filters() {
    const f = {};
    for (const [k, id] of [["rule", "f-rule"], ["person", "f-person"], ["from_day", "f-from"], ["to_day", "f-to"]]) {
      const v = $(id).value.trim();
      if (v) f[k] = v;
    }
    const hours = $("f-since").value;
    if (hours) f.since = new Date(Date.now() - Number(hours) * 3600e3).toISOString();
    return f;
  }
  let current = {};  // the filters the shown list was made with
  /** GET /api/alerts with the total and the newest id from its headers. */
  async function list(query) {
    const r = await fetch(`/api/alerts?${new URLSearchParams(query)}`, {credentials: "same-origin"});
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new GW.ApiError(r.status, data.detail);
    return {rows: data, total: Number(r.headers.get("X-Total-Count")), newest: Number(r.headers.get("X-Newest-Id")),
      listedAt: r.headers.get("X-Listed-At")};
  }
  async function load() {
    const state = $("f-state").value;
    const got = await list({...current, ...(state ? {state} : {}), limit: PAGE, offset});
    if (!got.rows.length && offset > 0 && got.total > 0) { offset = Math.max(0, Math.floor((got.total - 1) / PAGE) * PAGE); return load(); }
    GW.showError(null);
    shown = got.rows;
    total = got.total;
    listedAt = got.listedAt;
    const open = new Set(shown.filter((a) => a.state === "open").map((a) => a.id));
    [...picked].forEach((id) => { if (!open.has(id)) picked.delete(id); });
    $("count").textContent = t("alerts.count", {n: total});
    $("rows").replaceChildren(...(shown.length ? shown.map(row)
      : [el("tr", {}, el("td", {colspan: "7", cls: "muted", text: t("alerts.none")}))]));
    $("page").textContent = total ? t("alerts.page", {from: offset + 1, to: offset + shown.length, n: total}) : "";
    $("prev").disabled = offset === 0;
    $("next").disabled = offset + shown.length >= total;
    $("pick-page").checked = open.size > 0 && [...open].every((id) => picked.has(id));
    bulkButtons();
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  }
  function apply(first = false) {
    current = first === true && onlyId ? {id: onlyId} : filters();
    $("only-one").hidden = !current.id;
    offset = 0;
    picked.clear();
    hideConfirm();
    return load().catch(GW.showError);
  }

  // -- bulk acknowledgement, after a confirm step ------------------------------------------
  function bulkButtons() {
    $("ack-selected").textContent = t("alerts.ack_selected", {n: picked.size});
    $("ack-selected").disabled = picked.size === 0;
  }
  let pending = null;  // what the confirm step would acknowledge
  function hideConfirm() { pending = null; $("confirm").hidden = true; }
  /** What an acknowledgement did, and what it left because it changed since the list. */
  function done(r) {
    $("done").textContent = [r.acknowledged || !r.skipped ? t("alerts.acked_n", {n: r.acknowledged}) : null,
      r.skipped ? t("alerts.skipped_changed", {n: r.skipped}) : null].filter(Boolean).join(t("alerts.ev.join"));
    $("done").classList.toggle("skipped", r.skipped > 0);
    $("done").hidden = false;
  }
  function ask(text, body) {
    pending = body;
    $("confirm-text").textContent = text;
    $("confirm-yes").hidden = !body;
    $("confirm-note").hidden = !body;
    $("confirm").hidden = false;
    $("done").hidden = true;
  }
  $("ack-selected").addEventListener("click", () => {
    if (picked.size) ask(t("alerts.confirm_selected", {n: picked.size}), {ids: [...picked], upto_ts: listedAt});
  });
  $("ack-all").addEventListener("click", async () => {
    try {
      const got = await list({...current, state: "open", limit: 1});
      newest = got.newest;
      ask(got.total ? t("alerts.confirm_all", {n: got.total}) : t("alerts.confirm_none"),
        got.total ? {matching: {...current, upto_id: newest}, upto_ts: listedAt} : null);
    } catch (e) { GW.showError(e); }
  });
  $("confirm-no").addEventListener("click", hideConfirm);
  $("confirm-yes").addEventListener("click", async () => {
    if (!pending) return;
    const note = $("confirm-note").value.trim();
    try {
      const r = await api("/api/alerts/acknowledge", {method: "POST", body: {...pending, ...(note ? {note} : {})}});
      hideConfirm();
      $("confirm-note").value = "";
      picked.clear();
      done(r);
      await load();
    } catch (e) { GW.showError(e); }
  });
  $("pick-page").addEventListener("change", (ev) => {
    shown.filter((a) => a.state === "open").forEach((a) => { if (ev.target.checked) picked.add(a.id); else picked.delete(a.id); });
    document.querySelectorAll("#rows input.pick").forEach((c) => { c.checked = ev.target.checked; });
    bulkButtons();
  });

  // -- filters and pages -------------------------------------------------------------------
  $("apply").addEventListener("click", () => apply());
  $("f-person").addEventListener("keydown", (ev) => { if (ev.key === "Enter") apply(); });
  for (const id of ["f-rule", "f-state", "f-since", "f-from", "f-to"]) $(id).addEventListener("change", apply);
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load().catch(GW.showError); });
  $("next").addEventListener("click", () => { offset += PAGE; load().catch(GW.showError); });
  const asked = new URLSearchParams(location.search);
  for (const k of ["rule", "state", "person"]) if (asked.get(k)) $(`f-${k}`).value = asked.get(k);
  if (onlyId) $("only-one-text").textContent = t("alerts.only_one", {id: onlyId});
  await apply(true);

  // -- live: the wall's stream says when an alert arrives or changes -----------------------
  // The list reloads at once, unless the officer is writing a note or confirming (then as
  // soon as they are done).
  const busy = () => !$("confirm").hidden
    || [...document.querySelectorAll("#rows input.note")].some((i) => i.value || i === document.activeElement);
  let stale = false;
  let reloading = null;
  function reload() {
    stale = true;
    if (reloading || busy()) return;
    stale = false;
    reloading = load().catch(GW.showError).finally(() => { reloading = null; if (stale) reload(); });
  }
  setInterval(() => { if (stale) reload(); }, 1000);
  const beeped = new Map();  // alert id -> when it last beeped: a merged repeat beeps once a minute at most
  // A dropped connection the browser retries by itself; one closed for good (an HTTP error:
  // 502/503 from a proxy, 401) or ended by the server (the sign-in ended) is reopened here with
  // a growing pause while the sign-in holds, else the page asks to sign in again.
  const RETRY_MIN_MS = 1000, RETRY_MAX_MS = 60000;
  let source = null;
  let retryMs = RETRY_MIN_MS;
  let retryTimer = null;
  function live(on) {
    $("live").hidden = !on;
    $("live-lost").hidden = on;
    document.body.dataset.stream = on ? "open" : "error";
  }
  async function lost() {
    if (source) { source.close(); source = null; }
    live(false);
    if (retryTimer) return;
    try { await api("/api/me"); } catch (e) {
      if (e.status === 401) { location.reload(); return; }  // GW.start shows the sign-in
    }
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }
  function connect() {
    retryTimer = null;
    if (source) source.close();
    source = new EventSource("/api/wall/stream");
    source.onopen = () => {
      const again = document.body.dataset.opens !== undefined;
      document.body.dataset.opens = String(Number(document.body.dataset.opens || 0) + 1);
      retryMs = RETRY_MIN_MS;
      live(true);
      if (again) reload();  // what happened while the stream was away
    };
    source.onerror = (ev) => {
      live(false);
      if (ev.target.readyState === EventSource.CLOSED) lost();
    };
    source.onmessage = (ev) => {
      const item = JSON.parse(ev.data);
      if (item.topic === "ended") {
        lost();
      } else if (item.topic === "alert") {
        if (Date.now() - (beeped.get(item.id) || 0) > 60000) { beeped.set(item.id, Date.now()); sound.beep(item.high); }
        reload();
      } else if (item.topic === "alert_state") {
        reload();
      }
    };
  }
  connect();
  setInterval(reload, 300000);  // a missed item, now and then
});
