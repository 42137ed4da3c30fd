// What the elders, visits and person pages share: addresses, care flags, hours as text.
"use strict";
const People = (() => {
  /** "3 号楼 2 单元" from the building and unit (either may be missing). */
  function address(building, unit) {
    const parts = [];
    if (building) parts.push(GW.t("common.building_n", {n: building}));
    if (unit) parts.push(GW.t("elders.unit_n", {n: unit}));
    return parts.join(" ") || GW.t("common.none");
  }
  /** The care flags as small labelled chips. */
  function flags(list) {
    const box = GW.el("span", {cls: "flags"});
    for (const f of list || []) box.append(GW.el("span", {cls: `flag ${f}`, text: GW.label("flag", f)}));
    return box;
  }
  /** "12 小时 30 分" or "从未" for never seen. */
  const hours = (h) => (h == null ? GW.t("common.never") : GW.duration(h * 3600));
  /** 在小区内 / 在小区外 / 未知, with its colour class. */
  function where(inside) {
    if (inside == null) return GW.el("span", {cls: "where unknown", text: GW.t("common.unknown")});
    return GW.el("span", {cls: `where ${inside ? "inside" : "outside"}`, text: GW.t(inside ? "common.inside" : "common.outside")});
  }
  /** The current time in the site's zone as a datetime-local value ("2026-11-30T21:05"). */
  function localInputNow() {
    const f = new Intl.DateTimeFormat("sv-SE", {timeZone: GW.site.timezone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false});
    return f.format(new Date()).replace(" ", "T");
  }
  /** Replace a container's children. */
  const fill = (node, ...children) => { node.replaceChildren(...children.filter((c) => c != null)); };
  return {address, flags, hours, where, localInputNow, fill};
})();
