// Visitors inside now: pseudonymous id, since when (site time), which gate, how long; refreshed.
"use strict";
GW.start(async (_me) => {
  const {t, api, el, fmt, $} = GW;
  const REFRESH_MS = 30000;
  const reason = encodeURIComponent(t("visitors.audit_reason"));
  function stay(hours) {
    return GW.duration(hours * 3600);
  }
  async function load() {
    const list = await api(`/api/visitors/inside?reason=${reason}`);
    GW.showError(null);
    list.sort((a, b) => b.hours - a.hours);
    $("count").textContent = t("visitors.count", {n: list.length});
    $("updated").textContent = t("visitors.updated", {time: fmt(new Date().toISOString(), "seconds")});
    $("rows").replaceChildren(...(list.length ? list.map((v) => el("tr", {data: {id: v.visitor_id}, cls: v.hours >= 12 ? "high" : null},
      el("td", {cls: "vid", text: v.visitor_id}),
      el("td", {cls: "when", text: fmt(v.since, "datetime")}),
      el("td", {text: GW.where(v.gate, v.camera)}),
      el("td", {cls: "num", text: stay(v.hours)}),
      el("td", {cls: "face"}, GWFaces.box(v.event_id, {alt: GWFaces.alt({gate: v.gate, camera: v.camera, ts: v.since})}))))
      : [el("tr", {}, el("td", {colspan: "5", cls: "muted", text: t("visitors.none")}))]));
  }
  await load();
  setInterval(() => load().catch(GW.showError), REFRESH_MS);
});
