// What every page shares: the string catalogue, the site's time zone, the API call, sign-in,
// error display and a small element builder. Data is always written as text (textContent),
// never as HTML: names, gates and notes are user input.
"use strict";
const GW = (() => {
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const strings = json("gw-strings");
  const site = json("gw-site");
  const $ = (id) => document.getElementById(id);

  /** The catalogue's string `key`, its {placeholders} filled from `vars`. */
  function t(key, vars = {}) {
    const s = strings[key];
    if (s === undefined) { console.error("missing string", key); return key; }
    return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  }
  /** A label from the catalogue when it has one (roles, rules, states), else the raw value. */
  const label = (prefix, value) => (value == null ? "" : strings[`${prefix}.${value}`] ?? String(value));

  /** An error's message as a person reads it: never "[object Object]". */
  function message(detail, status) {
    if (typeof detail === "string" && detail) return detail;
    if (Array.isArray(detail)) {  // FastAPI's validation errors: [{loc, msg}, ...]
      return detail.map((d) => (d && d.msg ? `${(d.loc || []).slice(1).join(".")}: ${d.msg}` : String(d))).join("; ");
    }
    if (status === 401) return t("error.unauthorized");
    if (status === 403) return t("error.forbidden");
    if (status === 404) return t("error.not_found");
    return detail ? JSON.stringify(detail) : `HTTP ${status}`;
  }
  class ApiError extends Error {
    constructor(status, detail) { super(message(detail, status)); this.status = status; this.detail = detail; }
  }
  /** fetch as the signed-in user; JSON in and out; throws ApiError with a readable message. */
  async function api(path, {method = "GET", body, form} = {}) {
    const opts = {method, credentials: "same-origin", headers: {}};
    if (form) opts.body = form;
    else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    let r;
    try { r = await fetch(path, opts); } catch (e) { throw new ApiError(0, t("error.offline")); }
    const type = r.headers.get("content-type") || "";
    const data = r.status === 204 ? {} : type.includes("json") ? await r.json().catch(() => ({})) : await r.text();
    if (!r.ok) throw new ApiError(r.status, data && data.detail !== undefined ? data.detail : data);
    return data;
  }

  // Times: always in the site's zone (not the browser's), in the page's language.
  const locale = site.locale;
  const zone = site.timezone;
  const formats = {
    time: new Intl.DateTimeFormat(locale, {timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false}),
    seconds: new Intl.DateTimeFormat(locale, {timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}),
    date: new Intl.DateTimeFormat(locale, {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"}),
    datetime: new Intl.DateTimeFormat(locale, {timeZone: zone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false}),
  };
  /** `iso` in the site's zone: kind is time | seconds | date | datetime. */
  const fmt = (iso, kind = "datetime") => (iso ? formats[kind].format(new Date(iso)) : "");
  /** "5 minutes ago" from the catalogue. */
  function ago(iso, now = Date.now()) {
    if (!iso) return t("common.never");
    const min = Math.max(0, Math.round((now - new Date(iso).getTime()) / 60000));
    if (min < 1) return t("common.just_now");
    if (min < 60) return t("common.ago_min", {n: min});
    if (min < 48 * 60) return t("common.ago_h", {n: Math.floor(min / 60)});
    return t("common.ago_d", {n: Math.floor(min / 1440)});
  }

  /** el("td", {cls: "x", text: "y", title: "z", data: {id: 1}}, child...) */
  function el(tag, props = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (v == null) continue;
      if (k === "cls") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "data") Object.entries(v).forEach(([dk, dv]) => { e.dataset[dk] = dv; });
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    e.append(...children.filter((c) => c != null));
    return e;
  }

  function showError(e) {
    const box = $("error");
    if (!e) { box.hidden = true; box.textContent = ""; return; }
    box.textContent = t("error.prefix") + (e instanceof Error ? e.message : message(e));
    box.hidden = false;
  }

  /** Sign in if needed, then run the page's `main(me)`; its errors are shown, not thrown. */
  async function start(main) {
    const run = async () => {
      let me;
      try { me = await api("/api/me"); } catch (e) {
        if (e.status === 401) { $("login").hidden = false; $("main").hidden = true; return; }
        showError(e); return;
      }
      $("login").hidden = true;
      $("main").hidden = false;
      const nav = $("nav");
      if (nav) {
        nav.hidden = false;
        $("who").textContent = t("nav.signed_in_as", {name: me.name, role: me.role});
        document.querySelectorAll('[data-nav="audit"]').forEach((a) => { a.hidden = me.role !== "admin"; });
        document.querySelectorAll('[data-nav="gates"]').forEach((a) => { a.hidden = me.role === "viewer"; });
      }
      try { await main(me); } catch (e) { showError(e); }
    };
    $("signin").addEventListener("click", async () => {
      const token = $("token").value.trim();
      $("token").value = "";
      try {
        const r = await fetch("/api/login", {method: "POST", credentials: "same-origin", headers: {Authorization: `Bearer ${token}`}});
        if (!r.ok) throw new ApiError(r.status, (await r.json().catch(() => ({}))).detail);
        showError(null);
        await run();
      } catch (e) { showError(e); }
    });
    $("token").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("signin").click(); });
    const out = $("signout");
    if (out) out.addEventListener("click", async () => { await api("/api/logout", {method: "POST"}).catch(() => {}); location.reload(); });
    await run();
  }

  return {t, label, api, ApiError, fmt, ago, el, showError, start, site, strings, $};
})();
