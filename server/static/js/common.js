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

  /** A server error's catalogue key and values in the page's language (roles named). */
  function keyed(body) {
    const values = {};
    for (const [k, v] of Object.entries(body.values || {})) {
      values[k] = Array.isArray(v) ? v.map((x) => label("cli.user_role", x)).join(` ${t("val.or")} `)
        : k === "role" ? label("cli.user_role", v) : v;
    }
    return t(body.key, values);
  }
  /** One of FastAPI's validation errors ({type, loc, msg, ctx}) in the page's language. */
  function invalid(d) {
    if (!d || !d.msg) return String(d);
    const name = (d.loc || []).slice(1).join(".");
    if (strings[`val.${d.type}`] === undefined) return `${name}: ${d.msg}`;
    return t(`val.${d.type}`, {field: strings[`val.field.${name}`] ?? name, ...(d.ctx || {})});
  }
  /** An error's message as a person reads it: never "[object Object]". */
  function message(detail, status, body) {
    if (body && body.key && strings[body.key] !== undefined) return keyed(body);
    if (typeof detail === "string" && detail) return detail;
    if (Array.isArray(detail)) return detail.map(invalid).join("; ");  // FastAPI's 422s
    if (status === 401) return t("error.unauthorized");
    if (status === 403) return t("error.forbidden");
    if (status === 404) return t("error.not_found");
    return detail ? JSON.stringify(detail) : `HTTP ${status}`;
  }
  class ApiError extends Error {
    constructor(status, detail, body) { super(message(detail, status, body)); this.status = status; this.detail = detail; this.key = body && body.key; }
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
    if (!r.ok) throw new ApiError(r.status, data && data.detail !== undefined ? data.detail : data, data && data.key ? data : null);
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
  const parts = new Intl.DateTimeFormat("en-GB", {timeZone: zone, year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
  /** "12月7日 周一 14:05" (the year too when not this year's); server/localtime.py
   * day_time_text writes the same. */
  function dayTime(date, onlyDay = false) {
    const p = (d) => Object.fromEntries(parts.formatToParts(d).map((x) => [x.type, x.value]));
    const at = p(date);
    const [y, m, d] = [Number(at.year), Number(at.month), Number(at.day)];
    const weekday = t("fmt.weekdays").split(",")[(new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7];
    const key = onlyDay ? "fmt.day" : Number(p(new Date()).year) === y ? "fmt.day_time" : "fmt.year_day_time";
    return t(key, {year: y, month: t("fmt.months").split(",")[m - 1], day: d, weekday, time: `${at.hour}:${at.minute}`});
  }
  /** `iso` in the site's zone: kind is time | seconds | date | datetime (with the weekday) |
   * day ("12月7日 周一"). */
  const fmt = (iso, kind = "datetime") => (!iso ? "" : kind === "datetime" || kind === "day"
    ? dayTime(new Date(iso), kind === "day") : formats[kind].format(new Date(iso)));
  /** A length of time as people say it ("38 分钟", "2 小时 5 分", "3 天 4 小时"); the same rules
   * as server/localtime.py duration_text. */
  function duration(seconds) {
    const s = Math.max(0, Number(seconds) || 0);
    if (s < 60) return t("dur.under_min");
    const min = Math.round(s / 60);
    if (min < 60) return t("dur.min", {m: min});
    if (min < 24 * 60) return min % 60 ? t("dur.h_min", {h: Math.floor(min / 60), m: min % 60}) : t("dur.h", {h: min / 60});
    const h = Math.round(s / 3600);
    return h % 24 ? t("dur.d_h", {d: Math.floor(h / 24), h: h % 24}) : t("dur.d", {d: h / 24});
  }
  /** A similarity (0-1) as a whole percentage: "87%". */
  const pct = (score) => (score == null ? "" : t("fmt.pct", {n: Math.round(Math.min(1, Math.max(0, score)) * 100)}));

  // Display names of the gates and cameras (server.yaml names:); the raw id where none is set.
  const names = site.names || {gates: {}};
  /** The gate's display name, else its id. */
  const gateName = (gate) => (gate == null ? "" : (names.gates[gate] && names.gates[gate].name) || gate);
  /** The camera's display name at `gate`, else its id. */
  const cameraName = (gate, camera) => (camera == null ? "" : ((names.gates[gate] || {}).cameras || {})[camera] || camera);
  /** "北门（进门）" with names, "north/in-cam" without (server/site/names.py where()). */
  function where(gate, camera) {
    if (!camera) return gateName(gate);
    const [g, c] = [gateName(gate), cameraName(gate, camera)];
    return g === gate && c === camera ? `${gate}/${camera}` : t("names.where", {gate: g, camera: c});
  }
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
        $("who").textContent = t("nav.signed_in_as", {name: me.name, role: label("cli.user_role", me.role)});
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

  return {t, label, api, ApiError, fmt, ago, el, showError, start, site, strings, $,
    duration, pct, gateName, cameraName, where};
})();
