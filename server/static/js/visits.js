// Home visits: who is due a visit (printable for the auxiliaries' round), record a visit,
// the recent visits. A person is chosen from the due list or found by name.
"use strict";
GW.start(async (me) => {
  const $ = GW.$;
  let chosen = null;

  function choose(p) {
    chosen = p;
    $("choices").hidden = true;
    $("person-q").value = "";
    People.fill($("chosen"), p && GW.el("span", {cls: "picked", data: {id: p.id}},
      GW.el("strong", {text: p.name}), " ", People.address(p.building, p.unit, p.room)));
    $("saved").textContent = "";
  }

  function dueRow(d) {
    const last = d.last_visit
      ? `${GW.fmt(d.last_visit, "date")}（${GW.t("visits.days_ago", {n: Math.floor(d.days_since)})}）`
      : GW.t("visits.never_visited");
    const door = d.not_home ? GW.el("div", {cls: "not-home", text: GW.t("flows.visits.not_home_on", {date: GW.fmt(d.not_home, "date")})}) : null;
    return GW.el("tr", {data: {id: d.id}},
      GW.el("td", {cls: "name"}, GW.el("a", {href: `/person/${encodeURIComponent(d.id)}`, text: d.name})),
      GW.el("td", {cls: "num", text: d.age == null ? "" : String(d.age)}),
      GW.el("td", {cls: "addr", text: People.address(d.building, d.unit, d.room)}),
      GW.el("td", {cls: "phone", text: d.phone || ""}),
      GW.el("td", {}, People.flags(d.flags)),
      GW.el("td", {cls: d.last_visit ? "last" : "last red"}, last, door),
      GW.el("td", {cls: "notes"}),
      GW.el("td", {cls: "no-print"}, GW.el("button", {type: "button", cls: "secondary pick", text: GW.t("visits.record_this"),
        onclick: () => { choose(d); $("visitor").focus(); $("record").scrollIntoView(); }})));
  }

  /** The printed round sheet: one row per door in the order the round walks. */
  function roundRow(d) {
    const last = d.last_visit ? GW.fmt(d.last_visit, "date") : GW.t("visits.never_visited");
    const door = d.not_home ? GW.el("div", {cls: "not-home", text: GW.t("flows.visits.not_home_on", {date: GW.fmt(d.not_home, "date")})}) : null;
    return GW.el("tr", {data: {id: d.id}},
      GW.el("td", {cls: "addr", text: People.address(d.building, d.unit, d.room)}),
      GW.el("td", {cls: "name", text: d.name}),
      GW.el("td", {cls: "num", text: d.age == null ? "" : String(d.age)}),
      GW.el("td", {cls: "phone", text: d.phone || ""}),
      GW.el("td", {cls: "flags-cell"}, People.flags(d.flags)),
      GW.el("td", {cls: "last"}, last, door),
      GW.el("td", {cls: "notes"}), GW.el("td", {cls: "date"}), GW.el("td", {cls: "sign"}));
  }

  function recentRow(v) {
    return GW.el("tr", {data: {id: v.id}},
      GW.el("td", {text: GW.fmt(v.visited_at, "datetime")}),
      GW.el("td", {}, GW.el("a", {href: `/person/${encodeURIComponent(v.person_id)}`, text: v.name})),
      GW.el("td", {cls: "addr", text: People.address(v.building, v.unit, v.room)}),
      GW.el("td", {text: v.visitor}),
      GW.el("td", {cls: `outcome ${v.outcome}`, text: GW.label("visits.outcome", v.outcome)}),
      GW.el("td", {text: v.note || ""}),
      GW.el("td", {cls: "muted", text: v.recorded_by}));
  }

  async function load() {
    const days = $("days").value ? `?days=${encodeURIComponent($("days").value)}` : "";
    const [due, recent] = await Promise.all([GW.api(`/api/visits/due${days}`), GW.api("/api/visits?since=90d")]);
    if (!$("days").value) $("days").value = due.days;
    $("due-title").textContent = GW.t("visits.due_heading", {days: due.days, n: due.rows.length});
    $("due-printed").textContent = GW.t("visits.printed", {at: GW.fmt(new Date().toISOString(), "datetime")});
    People.fill($("due-rows"), ...due.rows.map(dueRow));
    if (!due.rows.length) $("due-rows").append(GW.el("tr", {}, GW.el("td", {colspan: 8, cls: "muted", text: GW.t("visits.none_due")})));
    People.fill($("round-rows"), ...[...due.rows].sort(People.byAddress).map(roundRow));
    People.fill($("recent-rows"), ...recent.map(recentRow));
    if (!recent.length) $("recent-rows").append(GW.el("tr", {}, GW.el("td", {colspan: 7, cls: "muted", text: GW.t("visits.none_recent")})));
  }

  let typing;
  $("person-q").addEventListener("input", () => {
    clearTimeout(typing);
    const q = $("person-q").value.trim();
    if (!q) { $("choices").hidden = true; return; }
    typing = setTimeout(async () => {
      try {
        const found = await GW.api(`/api/persons/find?q=${encodeURIComponent(q)}`);
        People.fill($("choices"), ...found.map((p) => GW.el("li", {},
          GW.el("button", {type: "button", cls: "choice", data: {id: p.id}, onclick: () => choose(p)},
            GW.el("strong", {text: p.name}), " ",
            GW.el("span", {cls: "muted", text: `${People.address(p.building, p.unit, p.room)} · ${GW.label("role", p.role)}${p.age != null ? " · " + GW.t("elders.age_n", {n: p.age}) : ""}`})))));
        if (!found.length) $("choices").append(GW.el("li", {cls: "muted", text: GW.t("visits.nobody_found")}));
        $("choices").hidden = false;
      } catch (e) { GW.showError(e); }
    }, 200);
  });

  $("save").addEventListener("click", async () => {
    $("saved").textContent = "";
    if (!chosen) { GW.showError(new Error(GW.t("visits.choose_person"))); return; }
    if (!$("visitor").value.trim()) { GW.showError(new Error(GW.t("visits.who_visited"))); $("visitor").focus(); return; }
    const body = {person_id: chosen.id, visitor: $("visitor").value.trim(), outcome: $("outcome").value,
                  note: $("note").value.trim() || null, visited_at: $("visited-at").value || null};
    try {
      const v = await GW.api("/api/visits", {method: "POST", body});
      GW.showError(null);
      $("saved").textContent = GW.t("visits.saved", {name: v.name, at: GW.fmt(v.visited_at, "datetime")});
      $("note").value = "";
      chosen = null;
      People.fill($("chosen"));
      await load();
    } catch (e) { GW.showError(e); }
  });
  $("days").addEventListener("change", () => load().catch(GW.showError));
  $("print").addEventListener("click", () => window.print());
  $("visited-at").value = People.localInputNow();
  $("visitor").value = me.name;  // who visited: the signed-in officer unless changed
  await load();
  document.body.dataset.ready = "1";
});
