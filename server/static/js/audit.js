// The audit log (admins): who did what to whom, when (site time), why; filtered, paged back.
"use strict";
GW.start(async (_me) => {
  const {t, api, el, fmt, $} = GW;
  const PAGE = 100;
  let oldest = null;
  const value = (k, v) => (k === "role" || k === "needs" ? String(v).split("/").map((r) => GW.label("cli.user_role", r)).join(" / ")
    : typeof v === "object" ? JSON.stringify(v) : v);
  const detail = (d) => (d ? Object.entries(d).map(([k, v]) => t("audit.detail_pair", {k: GW.label("audit.detail", k), v: value(k, v)})).join(t("audit.detail_sep")) : "");
  const row = (a) => el("tr", {data: {id: a.id, action: a.action}},
    el("td", {cls: "when", text: fmt(a.ts, "seconds") && `${fmt(a.ts, "date")} ${fmt(a.ts, "seconds")}`}),
    el("td", {text: a.user}),
    el("td", {cls: "action", text: GW.label("audit.act", a.action)}),
    el("td", {text: a.target || ""}),
    el("td", {text: a.reason || ""}),
    el("td", {cls: "detail", text: detail(a.detail)}));
  async function load(more = false) {
    const q = new URLSearchParams({limit: String(PAGE), since: $("f-since").value});
    if ($("f-user").value.trim()) q.set("user", $("f-user").value.trim());
    if ($("f-action").value) q.set("action", $("f-action").value);
    if (more && oldest) q.set("before_id", String(oldest));
    let list;
    try { list = await api(`/api/audit?${q}`); } catch (e) {
      if (e.status === 403) {
        $("audit-body").hidden = true;
        $("forbidden").hidden = false;
        $("forbidden").textContent = t("audit.admins_only_why", {msg: t("audit.admins_only"), why: e.message});
        return;
      }
      throw e;
    }
    GW.showError(null);
    if (!more) $("rows").replaceChildren();
    $("rows").append(...list.map(row));
    if (!$("rows").children.length) $("rows").append(el("tr", {}, el("td", {colspan: "6", cls: "muted", text: t("audit.none")})));
    oldest = list.length ? list[list.length - 1].id : oldest;
    $("more").hidden = list.length < PAGE;
    $("shown").textContent = t("audit.shown", {n: $("rows").querySelectorAll("tr[data-id]").length});
  }
  for (const key of Object.keys(GW.strings).filter((k) => k.startsWith("audit.act."))) {
    $("f-action").append(el("option", {value: key.slice("audit.act.".length), text: t(key)}));
  }
  $("apply").addEventListener("click", () => load().catch(GW.showError));
  $("more").addEventListener("click", () => load(true).catch(GW.showError));
  $("f-user").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("apply").click(); });
  $("f-action").addEventListener("change", () => $("apply").click());
  $("f-since").addEventListener("change", () => $("apply").click());
  await load();
});
