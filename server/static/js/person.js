// The person page: who, where now (big), the last 48 hours as a timeline of stays inside and
// outside with every passage and internal sighting as a tick, the tables, "raise a search".
"use strict";
GW.start(async (me) => {
  const $ = GW.$;
  const id = GW.site.person_id;
  const ms = (iso) => new Date(iso).getTime();
  let data;

  function whereabouts(w) {
    const now = $("where-now");
    if (w.inside == null) {
      now.className = "big unknown";
      now.textContent = GW.t("person.never_seen");
      $("where-detail").textContent = "";
      return;
    }
    now.className = `big ${w.inside ? "inside" : "outside"}`;
    now.textContent = GW.t(w.inside ? "common.inside" : "common.outside");
    const hoursSince = (Date.now() - ms(w.last_seen)) / 3600000;
    People.fill($("where-detail"),
      GW.el("div", {cls: "last-seen", text: GW.t("person.last_seen", {where: GW.where(w.gate, w.camera), at: GW.fmt(w.last_seen, "datetime"), ago: GW.ago(w.last_seen)})}),
      GW.el("div", {cls: hoursSince >= 24 ? "amber" : "", text: GW.t("person.hours_since", {n: GW.duration(hoursSince * 3600)})}),
      w.for_hours != null ? GW.el("div", {text: GW.t(w.inside ? "person.inside_for" : "person.outside_for", {n: GW.duration(w.for_hours * 3600)})}) : null);
  }

  function facts(p) {
    const dl = $("facts");
    const add = (key, value) => { if (value != null && value !== "") dl.append(GW.el("dt", {text: GW.t(key)}), GW.el("dd", {}, value)); };
    dl.replaceChildren();
    add("common.age", p.age == null ? null : `${GW.t("elders.age_n", {n: p.age})}（${p.birth_date}）`);
    add("elders.col.address", People.address(p.building, p.unit, p.room));
    add("common.phone", p.phone);
    add("common.flags", p.care_flags.length ? People.flags(p.care_flags) : GW.t("common.none"));
    add("person.company", p.company);
    if (p.valid_until) {
      add("person.valid_until", GW.el("span", {cls: p.expired ? "red expired" : "green",
        text: p.expired ? GW.t("person.expired", {date: p.valid_until}) : p.valid_until}));
    }
  }

  /** The enrollment face crop (the session cookie fetches it; each view is audited). */
  function reference(has) {
    $("reference").replaceChildren(has
      ? GW.el("img", {src: `/api/persons/${encodeURIComponent(id)}/reference`, alt: GW.t("person.reference"), title: GW.t("person.reference")})
      : GW.el("div", {cls: "none", text: GW.t("person.no_reference")}));
  }

  /** Beside the reference photo: the crops of the latest gate passages (newest first). */
  function latestFaces(passages) {
    const latest = passages.slice(-3).reverse();
    People.fill($("latest-faces"), ...(latest.length ? latest.map((p) => GW.el("figure", {},
      GWFaces.box(p.event_id, {size: "m", alt: GWFaces.alt(p)}),
      GW.el("figcaption", {}, GW.fmt(p.ts, "datetime"), GW.el("br"), GW.where(p.gate, p.camera))))
      : [GW.el("span", {cls: "muted", text: GW.t("faces.no_passages")})]));
  }

  /** One band per stay, one tick per passage, hour labels in the site's zone. */
  function timeline(o) {
    const t0 = ms(o.since), t1 = ms(o.until), span = t1 - t0;
    const pct = (t) => `${(100 * Math.min(Math.max(t - t0, 0), span)) / span}%`;
    const box = $("timeline");
    const lane = GW.el("div", {cls: "lane"});
    for (const s of o.stays) {
      const end = s.until ? ms(s.until) : t1;
      // A stay that began before the window is drawn from its start, and says so.
      const from = s.earlier ? GW.t("flows.person.began_earlier", {time: GW.fmt(s.since, "datetime")}) : GW.fmt(s.since, "datetime");
      const band = GW.el("div", {cls: `band ${s.where}${s.earlier ? " earlier" : ""}`, data: {since: s.since, until: s.until || ""},
        title: `${GW.t(s.where === "inside" ? "common.inside" : "common.outside")} ${from} – ${s.until ? GW.fmt(s.until, "datetime") : GW.t("person.now")}`});
      band.style.left = pct(ms(s.since));
      band.style.width = `${(100 * (Math.min(end, t1) - Math.max(ms(s.since), t0))) / span}%`;
      if (s.earlier) band.append(GW.el("span", {cls: "band-note", text: `← ${GW.t("flows.person.earlier_legend")}`}));
      lane.append(band);
    }
    for (const p of o.passages) {
      const tick = GW.el("div", {cls: `tick ${p.direction === "none" ? "internal" : p.direction}`,
        data: {ts: p.ts, direction: p.direction}, title: `${GW.fmt(p.ts, "seconds")} ${GW.where(p.gate, p.camera)} ${GW.label("direction", p.direction)}`});
      tick.style.left = pct(ms(p.ts));
      lane.append(tick);
    }
    const hours = GW.el("div", {cls: "hours"});
    const hourOf = new Intl.DateTimeFormat("en-GB", {timeZone: GW.site.timezone, hour: "2-digit", hour12: false});
    for (let t = Math.ceil(t0 / 3600000) * 3600000; t <= t1; t += 3600000) {
      const h = Number(hourOf.format(new Date(t))) % 24;
      if (h % 3) continue;
      const iso = new Date(t).toISOString();
      // h3: the labels at 3, 9, 15 and 21 h, the first to go where space is short (print).
      const kind = h === 0 ? "hour day" : h % 6 ? "hour h3" : "hour";
      const label = GW.el("span", {cls: kind, text: h === 0 ? GW.fmt(iso, "date") : GW.fmt(iso, "time")});
      label.style.left = pct(t);
      if (t - t0 < span * 0.02) label.classList.add("first");
      else if (t1 - t < span * 0.02) label.classList.add("last");
      hours.append(label);
      const rule = GW.el("div", {cls: h === 0 ? "rule day" : "rule"});
      rule.style.left = pct(t);
      lane.append(rule);
    }
    box.replaceChildren(lane, hours);
    declutter();
  }

  /** Hide the hour labels that would overlap a kept one: days first, then left to right. Run
   *  again whenever the timeline's width changes (a narrow window, the printed page). */
  function declutter() {
    const labels = [...document.querySelectorAll("#timeline .hour")];
    labels.forEach((l) => { l.style.visibility = ""; });
    const kept = [];
    const order = [...labels.filter((l) => l.classList.contains("day")), ...labels.filter((l) => !l.classList.contains("day"))];
    for (const l of order) {
      const r = l.getBoundingClientRect();
      if (!r.width) continue;  // hidden by the stylesheet (print)
      const gap = r.height * 0.4;
      if (kept.some((k) => r.left < k.right + gap && k.left < r.right + gap)) l.style.visibility = "hidden";
      else kept.push(r);
    }
  }
  new ResizeObserver(() => declutter()).observe($("timeline"));
  window.addEventListener("beforeprint", declutter);
  window.matchMedia("print").addEventListener("change", declutter);

  const length = (a, b) => GW.duration((ms(b) - ms(a)) / 1000);
  function tables(o) {
    People.fill($("stay-rows"), ...o.stays.slice().reverse().map((s) => GW.el("tr", {cls: s.earlier ? "earlier" : null},
      GW.el("td", {}, People.where(s.where === "inside")),
      GW.el("td", {cls: s.earlier ? "earlier" : null, text: s.earlier ? GW.t("flows.person.began_earlier", {time: GW.fmt(s.since, "datetime")}) : GW.fmt(s.since, "datetime")}),
      GW.el("td", {text: s.until ? GW.fmt(s.until, "datetime") : GW.t("person.now")}),
      GW.el("td", {text: s.earlier ? GW.t("flows.person.more_than", {hours: length(s.since, s.until || o.until)}) : length(s.since, s.until || o.until)}),
      GW.el("td", {text: s.entered_by ? GW.where(...s.entered_by.split("/")) : ""}))));
    People.fill($("passage-rows"), ...o.passages.slice().reverse().map((p) => GW.el("tr", {data: {event: p.event_id}},
      GW.el("td", {text: GW.fmt(p.ts, "datetime")}), GW.el("td", {text: GW.gateName(p.gate)}), GW.el("td", {text: GW.cameraName(p.gate, p.camera)}),
      GW.el("td", {cls: `dir ${p.direction}`, text: GW.label("direction", p.direction)}),
      GW.el("td", {text: GW.pct(p.score)}),
      GW.el("td", {cls: "face"}, GWFaces.box(p.event_id, {alt: GWFaces.alt(p)})))));
    People.fill($("alert-rows"), ...o.alerts.map((a) => GW.el("tr", {cls: a.state === "open" ? "high" : null},
      GW.el("td", {text: GW.fmt(a.created, "datetime")}), GW.el("td", {text: GW.label("rule", a.rule) + (a.count > 1 ? ` · ${GW.t("alerts.repeat_times", {n: a.count})}` : "")}),
      GW.el("td", {text: GW.label("alert_state", a.state)}), GW.el("td", {text: evidence(a.evidence)}))));
    People.fill($("visit-rows"), ...o.visits.map((v) => GW.el("tr", {},
      GW.el("td", {text: GW.fmt(v.visited_at, "datetime")}), GW.el("td", {text: v.visitor}),
      GW.el("td", {text: GW.label("visits.outcome", v.outcome)}), GW.el("td", {text: v.note || ""}))));
    for (const [body, cols] of [["stay-rows", 5], ["passage-rows", 6], ["alert-rows", 4], ["visit-rows", 4]]) {
      if (!$(body).children.length) $(body).append(GW.el("tr", {}, GW.el("td", {colspan: cols, cls: "muted", text: GW.t("common.none")})));
    }
  }

  function evidence(ev) {
    const parts = [];
    for (const k of ["went_out", "last_seen", "returned"]) if (ev[k]) parts.push(`${GW.t(`person.ev_${k}`)} ${GW.fmt(ev[k], "datetime")}`);
    if (ev.gate) parts.push(`${GW.t("common.gate")} ${GW.gateName(ev.gate)}`);
    if (ev.hours != null) parts.push(GW.duration(ev.hours * 3600));
    return parts.join("，");
  }

  function searchState(searches) {
    const s = searches[0];
    People.fill($("search-state"), s && GW.el("a", {cls: "red", href: `/search?id=${encodeURIComponent(s.id)}`, data: {search: s.id}, text: GW.t("person.search_active", {reason: s.reason})}));
  }

  function exportCsv() {
    const cell = (v) => `"${String(v).replace(/"/g, '""')}"`;
    const lines = [[GW.t("common.time"), GW.t("common.gate"), GW.t("person.camera"), GW.t("common.direction")].map(cell).join(",")];
    for (const p of data.passages) lines.push([GW.fmt(p.ts, "date") + " " + GW.fmt(p.ts, "seconds"), GW.gateName(p.gate), GW.cameraName(p.gate, p.camera), GW.label("direction", p.direction)].map(cell).join(","));
    const url = URL.createObjectURL(new Blob(["\ufeff" + lines.join("\r\n")], {type: "text/csv;charset=utf-8"}));
    const a = GW.el("a", {href: url, download: `${data.person.name}-${id}.csv`});
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  /** 查无此人: the people search with what was asked (a name in the URL); one match opens. */
  async function missing() {
    $("person-root").hidden = true;
    const box = $("missing");
    const q = GW.el("input", {id: "find-q", value: id, maxlength: "100"});
    const found = GW.el("div", {id: "find-results"});
    const find = async () => {
      const asked = q.value.trim();
      if (!asked) return;
      const list = await GW.api(`/api/persons/find?q=${encodeURIComponent(asked)}`);
      if (list.length === 1 && list[0].id !== id && asked === id) { location.replace(`/person/${encodeURIComponent(list[0].id)}`); return; }
      People.fill(found, GW.el("p", {text: GW.t(list.length ? "person.not_found_matches" : "person.not_found_none", {q: asked})}),
        list.length ? GW.el("ul", {cls: "matches"}, ...list.map((p) => GW.el("li", {},
          GW.el("a", {href: `/person/${encodeURIComponent(p.id)}`, text: GW.t("person.match_line", {name: p.name,
            where: People.address(p.building, p.unit, p.room), age: p.age == null ? GW.label("role", p.role) : GW.t("elders.age_n", {n: p.age})})})))) : null);
    };
    const go = GW.el("button", {type: "button", id: "find-go", text: GW.t("person.find"), onclick: () => find().catch(GW.showError)});
    q.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go.click(); });
    People.fill(box, GW.el("h1", {text: GW.t("person.not_found_title")}),
      GW.el("p", {cls: "hint", text: GW.t("person.not_found_hint", {id})}), GW.el("div", {cls: "toolbar"}, q, go), found);
    box.hidden = false;
    document.title = `${GW.t("person.not_found_title")} · ${GW.t("app.title")}`;
    await find();
  }

  async function load() {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) { await missing(); return false; }
    try { data = await GW.api(`/api/persons/${encodeURIComponent(id)}/overview`); } catch (e) {
      if (e.status !== 404) throw e;
      await missing();
      return false;
    }
    const p = data.person;
    document.title = `${p.name} · ${GW.t("app.title")}`;
    $("name").textContent = p.name;
    People.fill($("badges"), GW.el("span", {cls: `role ${p.role}`, text: GW.label("role", p.role)}));
    reference(data.reference);
    latestFaces(data.passages);
    whereabouts(data.whereabouts);
    facts(p);
    timeline(data);
    tables(data);
    searchState(data.searches);
    $("person-root").hidden = false;
    return true;
  }

  /** The face templates with where each came from; gate ones removable (an admin: any). */
  async function templates() {
    const list = await GW.api(`/api/persons/${encodeURIComponent(id)}/templates`);
    const removable = (x) => me.role === "admin" || x.source !== "enrollment";
    People.fill($("template-rows"), ...list.map((x) => GW.el("tr", {data: {template: x.id, source: x.source}},
      GW.el("td", {cls: "source", text: GW.label("template.source", x.source)}),
      GW.el("td", {text: x.gate ? GW.where(x.gate, x.camera) : ""}),
      GW.el("td", {text: GW.fmt(x.captured_at, "datetime")}),
      GW.el("td", {text: x.confirmed_by || ""}),
      GW.el("td", {text: GW.fmt(x.created, "datetime")}),
      GW.el("td", {}, removable(x) ? removeButton(x) : null))));
    if (!list.length) $("template-rows").append(GW.el("tr", {}, GW.el("td", {colspan: 6, cls: "muted", text: GW.t("common.none")})));
  }
  function removeButton(x) {
    const b = GW.el("button", {type: "button", cls: "secondary remove", text: GW.t("person.template_remove")});
    b.addEventListener("click", async () => {
      if (!b.classList.contains("sure")) {  // two steps: a template is not removed by one slip
        b.classList.add("sure", "danger");
        b.classList.remove("secondary");
        b.textContent = GW.t("person.template_remove_sure");
        return;
      }
      try {
        const r = await GW.api(`/api/persons/${encodeURIComponent(id)}/templates/${x.id}`, {method: "DELETE"});
        $("template-note").textContent = GW.t("person.template_removed", {version: r.gallery.version});
        GW.showError(null);
        await templates();
      } catch (e) { GW.showError(e); }
    });
    return b;
  }

  $("raise").addEventListener("click", () => { $("reason").value = GW.t("person.search_reason_default"); $("raise-error").textContent = ""; $("raise-dialog").showModal(); });
  $("raise-cancel").addEventListener("click", () => $("raise-dialog").close());
  $("raise-go").addEventListener("click", async () => {
    try {
      const r = await GW.api("/api/searches", {method: "POST", body: {person_id: id, reason: $("reason").value.trim()}});
      $("raise-dialog").close();
      GW.showError(null);
      $("raise-error").textContent = "";
      People.fill($("search-state"), GW.el("a", {cls: "red raised", href: `/search?id=${encodeURIComponent(r.search_id)}`, data: {search: r.search_id}, text: GW.t("person.search_raised", {id: r.search_id})}));
    } catch (e) { $("raise-error").textContent = GW.t("error.prefix") + e.message; }
  });
  $("export").addEventListener("click", exportCsv);
  $("print").addEventListener("click", () => window.print());
  if (await load()) await templates();
  document.body.dataset.ready = "1";
});
