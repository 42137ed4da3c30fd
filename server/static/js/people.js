// What the elders, visits and person pages share: addresses, care flags, hours as text.
"use strict";
const People = (() => {
  /** Rows entered before the room had its own field kept the flat in the unit ("701"): a unit of
   *  three or more digits and no room is read as the room. */
  function split(unit, room) {
    return !room && /^\d{3,}$/.test(unit || "") ? [null, unit] : [unit, room];
  }
  /** "3 号楼 2 单元 701 室" from the building, unit and room (any may be missing). */
  function address(building, unit0, room0) {
    const [unit, room] = split(unit0, room0);
    const parts = [];
    if (building) parts.push(GW.t("common.building_n", {n: building}));
    if (unit) parts.push(GW.t("elders.unit_n", {n: unit}));
    if (room) parts.push(GW.t("flows.address.room_n", {n: room}));
    return parts.join(" ") || GW.t("common.none");
  }
  /** Order by building, unit, room (numbers as numbers: 2 before 10); the round walks so. */
  const num = (a, b) => (a || "").localeCompare(b || "", undefined, {numeric: true});
  function byAddress(a, b) {
    const [ua, ra] = split(a.unit, a.room), [ub, rb] = split(b.unit, b.room);
    return num(a.building, b.building) || num(ua, ub) || num(ra, rb) || num(a.name, b.name);
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
  return {address, byAddress, flags, hours, where, localInputNow, fill};
})();
