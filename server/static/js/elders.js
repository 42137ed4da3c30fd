// Elders and care groups: every resident 70+ and every care-flag resident, most at risk first;
// sort, filter by flag and building, export CSV, print. Names link to the person page.
"use strict";
GW.start(async (_me) => {
  const $ = GW.$;
  let rows = [];
  const sorters = {
    risk: (a, b) => a.risk - b.risk,
    hours: (a, b) => (b.hours ?? Infinity) - (a.hours ?? Infinity) || a.risk - b.risk,
    age: (a, b) => (b.age ?? -1) - (a.age ?? -1) || a.risk - b.risk,
    building: (a, b) => People.byAddress(a, b) || a.risk - b.risk,
  };

  function query() {
    const p = new URLSearchParams();
    for (const k of ["flag", "building", "q"]) if ($(k).value.trim()) p.set(k, $(k).value.trim());
    return p.toString();
  }

  function row(r) {
    const last = r.last_seen
      ? GW.el("span", {}, GW.el("span", {cls: "gate", text: GW.where(r.gate, r.camera)}), " ", GW.el("span", {text: GW.fmt(r.last_seen, "datetime")}))
      : GW.el("span", {cls: "muted", text: GW.t("common.never")});
    const alerts = r.alerts
      ? GW.el("span", {cls: "red", text: r.alert_rules.map((a) => GW.label("rule", a)).join("、")})
      : GW.el("span", {cls: "muted", text: GW.t("common.none")});
    const late = r.hours == null || r.hours >= 24;
    return GW.el("tr", {cls: r.alerts ? "high" : null, data: {id: r.id, risk: r.risk}},
      GW.el("td", {cls: "num", text: String(r.risk)}),
      GW.el("td", {cls: "name"}, GW.el("a", {href: `/person/${encodeURIComponent(r.id)}`, text: r.name})),
      GW.el("td", {cls: "num age", text: r.age == null ? "" : String(r.age)}),
      GW.el("td", {cls: "address", text: People.address(r.building, r.unit, r.room)}),
      GW.el("td", {}, People.flags(r.flags)),
      GW.el("td", {cls: "inout"}, People.where(r.inside)),
      GW.el("td", {cls: "last"}, last),
      GW.el("td", {cls: `num hours ${late ? "amber" : ""}`, text: People.hours(r.hours)}),
      GW.el("td", {cls: "alerts"}, alerts));
  }

  function render() {
    const sorted = [...rows].sort(sorters[$("sort").value] || sorters.risk);
    People.fill($("rows"), ...sorted.map(row));
    const out = rows.filter((r) => r.inside === false).length;
    const alerted = rows.filter((r) => r.alerts > 0).length;
    $("summary").textContent = GW.t("elders.summary", {n: rows.length, out, alerts: alerted});
  }

  async function load() {
    const q = query();
    const data = await GW.api(`/api/elders${q ? "?" + q : ""}`);
    rows = data.rows;
    $("csv").href = `/api/elders.csv${q ? "?" + q : ""}`;
    $("elders-printed").textContent = GW.t("elders.printed", {at: GW.fmt(data.at, "datetime"), n: rows.length});
    if (!query()) fillBuildings(rows);
    render();
    GW.showError(null);
  }

  function fillBuildings(all) {
    const sel = $("building");
    const have = new Set([...sel.options].map((o) => o.value));
    const buildings = [...new Set(all.map((r) => r.building).filter(Boolean))]
      .sort((a, b) => a.localeCompare(b, undefined, {numeric: true}));
    for (const b of buildings) if (!have.has(b)) sel.append(GW.el("option", {value: b, text: GW.t("common.building_n", {n: b})}));
  }

  const reload = () => load().catch(GW.showError);
  $("sort").addEventListener("change", render);
  $("flag").addEventListener("change", reload);
  $("building").addEventListener("change", reload);
  let typing;
  $("q").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(reload, 250); });
  $("print").addEventListener("click", () => window.print());
  await load();
  document.body.dataset.ready = "1";
});
