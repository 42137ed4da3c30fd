// The search page: raise a search by name (type-ahead) or by photo, see the immediate answer,
// follow the selected search's sighting candidates live, confirm or reject them, close it.
"use strict";
GW.start(async (_me) => {
  const {t, api, el, fmt, $} = GW;
  const st = {picked: null, photo: null, sid: null, stream: null, cands: new Map()};

  // -- raising ------------------------------------------------------------------------------
  let timer = null;
  $("q").addEventListener("input", () => {
    st.picked = null;
    $("picked").textContent = "";
    clearTimeout(timer);
    timer = setTimeout(() => find($("q").value.trim()).catch(GW.showError), 250);
  });
  async function find(q) {
    const list = $("matches");
    list.replaceChildren();
    if (!q) { list.hidden = true; return; }
    const found = await api(`/api/persons/find?q=${encodeURIComponent(q)}`);
    if (q !== $("q").value.trim()) return;  // typed on meanwhile
    list.append(...(found.length ? found.map(personItem) : [el("li", {cls: "muted", text: t("search.no_match")})]));
    list.hidden = false;
  }
  function personItem(p) {
    const where = [p.building && t("common.building_n", {n: p.building}), p.unit && `${p.unit} ${t("common.unit")}`,
      p.room && t("flows.address.room_n", {n: p.room})];
    const bits = [p.name, p.age != null ? t("elders.age_n", {n: p.age}) : null, GW.label("role", p.role), ...where];
    return el("li", {}, el("button", {type: "button", cls: "secondary match", data: {id: p.id}, onclick: () => pick(p)},
      bits.filter(Boolean).join(" · ")));
  }
  function pick(p) {
    st.picked = p;
    $("q").value = p.name;
    $("matches").hidden = true;
    $("picked").textContent = t("search.selected", {name: `${p.name}（${p.id}）`});
  }
  function reason() {
    const r = $("reason").value.trim();
    if (r.length < 3) throw new Error(t("search.reason_short"));
    return r;
  }
  $("raise").addEventListener("click", () => guard(async () => {
    if (!st.picked) throw new Error(t("search.pick_person"));
    const a = await api("/api/searches", {method: "POST", body: {person_id: st.picked.id, reason: reason()}});
    await raised(a);
  }));
  $("raise-photo").addEventListener("click", () => guard(async () => {
    if (!st.photo) throw new Error(t("search.pick_photo"));
    const form = new FormData();
    form.append("reason", reason());
    form.append("photo", st.photo);
    await raised(await api("/api/searches/photo", {method: "POST", form}));
  }));
  function choose(file) {
    if (!file) return;
    st.photo = file;
    $("drop-hint").textContent = t("search.photo_chosen", {name: file.name});
  }
  $("photo").addEventListener("change", () => choose($("photo").files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    choose(ev.dataTransfer.files[0]);
  });
  async function raised(a) {
    $("reason").value = "";
    await lists();
    await select(a.search_id, a);
  }
  async function guard(fn) {
    try { GW.showError(null); await fn(); } catch (e) { GW.showError(e); }
  }

  // -- the immediate answer -----------------------------------------------------------------
  function answer(a) {
    const box = $("answer");
    box.replaceChildren(el("h2", {text: `${t("search.answer")}：${title(a)}`}));
    if (a.person_id) box.append(...personAnswer(a));
    else box.append(...photoAnswer(a));
    box.hidden = false;
  }
  const title = (a) => (a.person_id ? `${a.person_name || a.person_id}（${a.person_id}）` : `${t("search.photo_search")} ${a.search_id}`);
  function personAnswer(a) {
    const big = a.believed_inside == null ? t("search.believed_unknown")
      : a.believed_inside ? t("search.believed_inside") : t("search.believed_outside");
    const out = [el("p", {cls: `big ${a.believed_inside ? "green" : "red"}`, id: "believed", text: big})];
    const w = a.whereabouts;
    if (!a.seen_last_48h || !w || !w.last_seen) {
      out.push(el("p", {cls: "big-line", text: t("search.not_seen_48h")}));
      return out;
    }
    const passages = (a.trajectory_48h && a.trajectory_48h.passages) || [];
    const last = passages[passages.length - 1];
    out.push(el("p", {cls: "big-line", id: "last-seen", text: t("search.last_seen", {
      gate: GW.gateName(w.gate), direction: last ? GW.label("direction", last.direction) : "", time: fmt(w.last_seen, "datetime")})}));
    const hours = (Date.now() - new Date(w.last_seen).getTime()) / 3600000;
    out.push(el("p", {cls: "big-line", text: t("search.hours_since", {n: GW.duration(hours * 3600)})}));
    // A building camera counts only after the last return: one from an earlier stay says
    // nothing of where the person is now.
    const since = a.last_return;
    out.push(el("p", {id: "last-internal", text: a.last_internal
      ? t("search.last_internal", {gate: GW.gateName(a.last_internal.gate), time: fmt(a.last_internal.ts, "datetime")})
      : since ? t("flows.search.no_internal_since_return", {time: fmt(since.ts, "datetime")})
        : t("flows.search.no_internal_48h")}));
    return out;
  }
  function photoAnswer(a) {
    const vs = a.visitors || [];
    const out = [el("h3", {text: t("search.visitors_found")})];
    if (!vs.length) return [...out, el("p", {cls: "big-line", text: t("search.no_visitors")})];
    return [...out, el("ul", {}, ...vs.map((v) => el("li", {text: t("search.visitor_line", {
      id: v.visitor_id, score: GW.pct(v.score), gates: v.gates.map(GW.gateName).join("、"),
      inside: v.inside ? t("common.inside") : t("common.outside")})})))];
  }

  // -- the lists of searches ----------------------------------------------------------------
  async function lists() {
    const all = await api("/api/searches");
    const item = (s) => el("li", {data: {sid: s.id}, cls: s.id === st.sid ? "here" : null},
      el("button", {type: "button", cls: "secondary", onclick: () => guard(() => select(s.id))},
        s.person_id ? `${s.person_name || s.person_id}` : t("search.photo_search")),
      el("span", {text: " " + t("search.raised_line", {by: s.raised_by, time: fmt(s.created, "datetime"), reason: s.reason})}),
      s.state === "closed" ? el("div", {cls: "muted", text: t("search.closed_line", {by: s.closed_by, time: fmt(s.closed, "datetime")})
        + (s.close_note ? `：${s.close_note}` : "")}) : null);
    const active = all.filter((s) => s.state === "active");
    const closed = all.filter((s) => s.state !== "active").slice(0, 20);
    $("active").replaceChildren(...(active.length ? active.map(item) : [el("li", {cls: "muted", text: t("search.none_active")})]));
    $("history").replaceChildren(...(closed.length ? closed.map(item) : [el("li", {cls: "muted", text: t("search.no_history")})]));
  }

  // -- the selected search: candidates live ---------------------------------------------------
  async function select(sid, given) {
    const a = given || await api(`/api/searches/${sid}`);
    st.sid = sid;
    answer(a);
    document.querySelectorAll("#active li, #history li").forEach((li) => li.classList.toggle("here", li.dataset.sid === sid));
    $("detail").hidden = false;
    $("detail-title").textContent = title(a);
    st.cands = new Map();
    st.closed = a.state !== "active";  // a closed search takes no more verdicts
    $("candidates").replaceChildren();
    a.candidates.forEach(candidate);
    confirmed();
    $("close-box").hidden = a.state !== "active";
    listen(a.state === "active" ? sid : null);
  }
  function listen(sid) {
    if (st.stream) { st.stream.close(); st.stream = null; }
    $("live").textContent = "";
    if (!sid) return;
    const es = new EventSource(`/api/searches/${sid}/stream`);
    st.stream = es;
    es.onopen = () => { $("live").textContent = t("search.live"); $("live").className = "live ok"; };
    es.onerror = () => { $("live").textContent = t("search.reconnecting"); $("live").className = "live bad"; };
    es.onmessage = (m) => {
      const item = JSON.parse(m.data);
      if (item.candidate) candidate(item.candidate);
    };
  }
  function evidence(c, picture) {
    const src = `/api/searches/${c.search_id}/candidates/${c.candidate_id}/evidence/${picture}`;
    return el("figure", {}, el("img", {src, alt: t(`search.${picture}`), cls: `ev-${picture}`}),
      el("figcaption", {text: t(`search.${picture}`)}));
  }
  function candidate(c) {
    const verdict = c.verdict || "pending";
    const judge = (v) => () => guard(async () => {
      candidate(await api(`/api/searches/${c.search_id}/candidates/${c.candidate_id}/verdict`, {method: "POST", body: {verdict: v}}));
    });
    const card = el("div", {cls: `cand ${verdict}`, data: {cid: c.candidate_id, verdict}},
      el("div", {cls: "pics"}, ...(c.has_evidence ? [evidence(c, "aligned"), evidence(c, "context")]
        : [el("p", {cls: "muted", text: t("search.no_picture")})])),
      el("div", {cls: "cand-text"},
        el("p", {cls: "cand-where", text: t("search.candidate_at", {gate: GW.gateName(c.gate), camera: GW.cameraName(c.gate, c.camera), time: fmt(c.ts, "seconds")})}),
        el("p", {text: `${t("common.score")} ${GW.pct(c.score)} · ${t("search.frames", {n: c.frames_at_threshold})} · ${GW.ago(c.ts)}`}),
        el("p", {cls: `verdict ${verdict}`, text: t(`search.verdict_${verdict}`)
          + (c.verdict_by ? ` · ${t("search.verdict_by", {by: c.verdict_by, time: fmt(c.verdict_at, "time")})}` : "")}),
        st.closed ? el("p", {cls: "muted closed-note", text: t("flows.search.closed_no_verdict")})
          : el("div", {cls: "buttons"},
            el("button", {type: "button", cls: "confirm", onclick: judge("confirmed"), disabled: verdict === "confirmed" ? "" : null}, t("search.confirm")),
            el("button", {type: "button", cls: "danger reject", onclick: judge("rejected"), disabled: verdict === "rejected" ? "" : null}, t("search.reject")))));
    const old = st.cands.get(c.candidate_id);
    $("candidates").querySelectorAll(".empty").forEach((e) => e.remove());
    if (old) old.card.replaceWith(card); else $("candidates").prepend(card);
    st.cands.set(c.candidate_id, {c, card});
    confirmed();
  }
  /** The sightings an officer confirmed, once each: the edges' automatic sightings wait in the
   *  candidates above until someone confirms them, and one passage is one sighting. */
  function confirmed() {
    const once = new Map();
    for (const {c} of st.cands.values()) {
      if (c.verdict === "confirmed") once.set(c.event_id || c.candidate_id, c);
    }
    const rows = [...once.values()].sort((a, b) => (a.ts < b.ts ? 1 : -1));
    $("confirmed").replaceChildren(...(rows.length ? rows.map((c) => el("li", {cls: "sighting", data: {cid: c.candidate_id, event: c.event_id || ""}},
      c.event_id ? GWFaces.box(c.event_id, {alt: GWFaces.alt(c)}) : null,
      el("span", {text: `${fmt(c.ts, "datetime")} · ${GW.where(c.gate, c.camera)}· ${t("search.verdict_confirmed")} ${t("search.verdict_by", {by: c.verdict_by || "", time: fmt(c.verdict_at, "time")})}`})))
      : [el("li", {cls: "muted", text: t("search.none_confirmed")})]));
    if (!st.cands.size && !$("candidates").children.length) {
      $("candidates").append(el("p", {cls: "muted empty", text: t("search.no_candidates")}));
    }
  }
  $("close-search").addEventListener("click", () => guard(async () => {
    const note = $("close-note").value.trim();
    const a = await api(`/api/searches/${st.sid}/close`, {method: "POST", body: note ? {note} : {}});
    $("close-note").value = "";
    await lists();
    await select(a.search_id, a);
  }));

  await lists();
  // /search?id=<search> opens a search; /search?person=<id> (the person page) picks the person.
  const asked = new URLSearchParams(location.search);
  if (asked.get("id")) await select(asked.get("id"));
  if (asked.get("person")) {
    const found = await api(`/api/persons/find?q=${encodeURIComponent(asked.get("person"))}`);
    const p = found.find((x) => x.id === asked.get("person"));
    if (p) { pick(p); $("reason").focus(); }
  }
});
