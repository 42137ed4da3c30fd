// The wall screen: figures from /api/wall, live passages, alerts and the server's health from
// /api/wall/stream. A kiosk: it reconnects by itself, says so in red (amber: the server cannot
// hear the gates) when its data is not current, renews its sign-in, and asks for it when ended.
"use strict";
GW.start(async (_me) => {
  const {$, t, el, fmt, ago, label, api, site} = GW;
  const ROLES = ["resident", "visitor", "courier", "staff", "watchlist"];
  const STALE_MS = (site.stale_after_s || 30) * 1000;
  const REFRESH_MIN_MS = 2000;   // figures are refetched at most this often
  const RECONNECT_MS = 5000;     // a stale stream is reopened at most this often
  const number = new Intl.NumberFormat(site.locale);
  const hourOf = new Intl.DateTimeFormat("en-GB", {timeZone: site.timezone, hour: "2-digit", hourCycle: "h23"});
  let data = null;
  let maxRows = 12;

  // -- figures -------------------------------------------------------------------------------
  function setFig(id, n) {
    const e = $(id);
    e.dataset.value = String(n);
    e.textContent = number.format(n);
  }
  const who = (x) => [x.name, x.building ? t("common.building_n", {n: x.building}) : null].filter(Boolean).join(" · ");

  function passageRow(p, fresh = false) {
    return el("li", {cls: `${p.role}${fresh ? " fresh" : ""}`},
      el("span", {cls: "time", text: fmt(p.ts, fmt(p.ts, "date") === fmt(new Date().toISOString(), "date") ? "seconds" : "datetime")}),
      el("span", {cls: "gate", text: GW.gateName(p.gate)}),
      el("span", {cls: `dir ${p.direction}`, text: label("direction", p.direction)}),
      el("span", {cls: `badge ${p.role}`, text: label("role", p.role)}),
      el("span", {cls: "who", text: who(p)}));
  }
  function alertRow(a) {
    const old = Date.now() - new Date(a.ts).getTime() > 12 * 3600 * 1000;
    const when = (old ? [GW.gateName(a.gate), ago(a.ts), fmt(a.ts, "datetime")]  // "2 天前" before the date
      : [GW.gateName(a.gate), fmt(a.ts, "time"), ago(a.ts)]).filter(Boolean).join(" · ");
    return el("li", {cls: a.high ? "high" : "", data: {rule: a.rule, id: a.id}},
      el("span", {cls: "rule", text: label("rule", a.rule)}),
      a.count > 1 ? el("span", {cls: "count", text: t("alerts.repeat_times", {n: a.count})}) : null,
      el("span", {cls: "who", text: who(a) || label("role", a.role)}),
      el("span", {cls: "line2", text: when}));
  }
  // A camera is online as the last health item says (the server checks its status is not
  // overdue); unknown while the server cannot hear the gates or the wall cannot hear the server.
  function gateState(g) {
    if (staleSince !== null || (health && !health.broker)) return "unknown";
    const h = health && health.gates.find((x) => x.gate === g.gate && x.camera === g.camera);
    const online = h ? h.online : g.online;
    return online == null ? "unknown" : online ? "on" : "off";
  }
  function gateRow(g) {
    const state = gateState(g);
    const text = {on: "wall.online", off: "wall.offline", unknown: "wall.gate_unknown"}[state];
    const last = t("wall.last_passage", {time: g.last_passage ? fmt(g.last_passage, "time") : t("common.never")});
    return el("li", {cls: state === "off" ? "dead" : state === "unknown" ? "unknown" : "", data: {state}},
      el("span", {cls: "name", text: `${GW.gateName(g.gate)} · ${GW.cameraName(g.gate, g.camera)}`}),
      el("span", {cls: `state ${state}`, text: t(text)}),
      el("span", {cls: "who", text: last}));
  }
  function renderGates() {
    if (data) list("gates", data.gates, gateRow, t("wall.no_gates"));
  }
  function list(id, items, row, empty) {
    $(id).replaceChildren(...(items.length ? items.map(row) : [el("li", {cls: "empty", text: empty})]));
  }

  function render(d) {
    data = d;
    maxRows = d.passages_max;
    setFig("inside-total", d.inside_total);
    ROLES.forEach((r) => {
      setFig(`inside-${r}`, d.inside[r] || 0);
      setFig(`in-${r}`, d.people_in[r] || 0);
      setFig(`out-${r}`, d.people_out[r] || 0);
    });
    setFig("in-total", Object.values(d.people_in).reduce((a, b) => a + b, 0));
    setFig("out-total", Object.values(d.people_out).reduce((a, b) => a + b, 0));
    $("passages-today").textContent = t("wall.passages_today", {n: number.format(d.passages_today)});
    list("passages", d.passages, (p) => passageRow(p), t("wall.no_passages"));
    renderAlerts(d);
    const e = d.elders;
    $("elders-title").textContent = t("wall.elders", {age: e.age_years, n: number.format(e.total)});
    setFig("elders-24h", e.seen_24h);
    setFig("elders-48h", e.seen_48h);
    setFig("elders-not", e.not_seen_48h);
    $("elders-not").parentElement.classList.toggle("some", e.not_seen_48h > 0);
    renderGates();
    chart.draw(d.hourly);
    document.body.dataset.ready = "1";
  }
  // As many alerts as fit whole in the tile, then "另有 N 条" for the rest (never a cut line).
  function renderAlerts(d) {
    const box = $("alerts"), tile = $("alerts-tile");
    const rows = d.alerts.map(alertRow);
    box.replaceChildren(...(rows.length ? rows : [el("li", {cls: "empty", text: t("wall.alerts_none")})]));
    let more = Math.max(0, d.alerts_open - d.alerts.length);
    const moreRow = el("li", {cls: "empty more"});
    const overflows = () => box.getBoundingClientRect().bottom > tile.getBoundingClientRect().bottom - 2;
    for (;;) {
      moreRow.textContent = t("wall.alerts_more", {n: more});
      if (more > 0 && !moreRow.isConnected) box.append(moreRow);
      if (!overflows() || !rows.some((r) => r.isConnected)) break;
      rows.filter((r) => r.isConnected).pop().remove();
      more += 1;
    }
    tile.dataset.shown = String(rows.filter((r) => r.isConnected).length);
    tile.dataset.more = String(more);
    $("alerts-count").textContent = d.alerts_open ? t("wall.alerts_count", {n: d.alerts_open}) : "";
    tile.classList.toggle("high", d.alerts_high > 0);
    if (!d.alerts_open) flashing.clear();
    tile.classList.toggle("flash", flashing.size > 0);
  }
  // Alerts that arrived live flash the tile until an officer acknowledges (or closes) them.
  const flashing = new Set();

  let lastRefresh = 0;
  let pending = null;
  async function refresh() {
    lastRefresh = Date.now();
    try { render(await api("/api/wall")); GW.showError(null); } catch (e) {
      if (e.status === 401) expired(); else GW.showError(e);
    }
  }
  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, Math.max(200, lastRefresh + REFRESH_MIN_MS - Date.now()));
  }

  // -- the hourly chart (uPlot) ----------------------------------------------------------------
  const chart = WallChart($("chart"), $("legend"));

  // -- sound (sound.js): browsers play only after a gesture, so one click enables it ----------
  const sound = GW.sound($("sound"), $("sound-on"));

  // -- the live stream and the wall's state -------------------------------------------------
  // Live: the stream answers and the server's health (every few seconds) says ingest works.
  // Stale (red): nothing from the server for stale_after_s. Gates lost (amber): the server
  // answers but cannot hear the gates. Expired: the sign-in has ended; a big prompt asks for it.
  let source = null;
  let health = null;         // the last health item
  let lastNews = Date.now(); // anything from the server
  let lastGood = Date.now(); // the data was last known to be current
  let lastAttempt = 0;
  let staleSince = null;
  let signedOut = false;
  function show() {
    const now = Date.now();
    const serverLost = now - lastNews > STALE_MS;
    const gatesLost = !serverLost && health !== null && !health.live;
    const wasStale = staleSince !== null;
    staleSince = serverLost || gatesLost || signedOut ? (staleSince ?? lastGood) : null;
    const state = signedOut ? "expired" : serverLost ? "stale" : gatesLost ? "gates" : "live";
    if (document.body.dataset.state !== state) {
      document.body.dataset.state = state;
      const stale = $("stale");
      const banner = {stale: "wall.stale", gates: "wall.stale_gates", expired: "wall.stale_expired"}[state];
      stale.hidden = !banner;
      stale.classList.toggle("amber", state === "gates");
      stale.textContent = banner ? t(banner, {time: fmt(new Date(staleSince).toISOString(), "seconds")}) : "";
      $("live").hidden = state !== "live";
      $("relogin").hidden = state !== "expired";
      document.body.classList.toggle("is-stale", state !== "live");
      renderGates();
      if (state === "expired") $("relogin-token").focus();
    }
    if (wasStale && staleSince === null) refresh();
  }
  function news() {
    lastNews = Date.now();
    if (!health || health.live) lastGood = lastNews;
    show();
  }
  function onItem(item) {
    if (item.topic === "health") {
      health = item;
      if (item.live) lastGood = Date.now();
      show();
      renderGates();
    } else if (item.topic === "ended") {  // the sign-in ended (expired, signed out, revoked)
      checkSignIn();
    } else if (item.topic === "passage") {
      const rows = $("passages");
      rows.querySelectorAll("li.empty").forEach((e) => e.remove());
      rows.prepend(passageRow(item, true));
      while (rows.children.length > maxRows) rows.lastElementChild.remove();
      soon();
    } else if (item.topic === "alert" && data) {
      const known = data.alerts.some((a) => a.id === item.id);  // a merged repeat: same alert
      data.alerts = [item, ...data.alerts.filter((a) => a.id !== item.id)];
      if (!known) data.alerts_open += 1;
      if (item.high && !known) data.alerts_high += 1;
      flashing.add(item.id);
      renderAlerts(data);
      sound.beep(item.high);
      soon();
    } else if (item.topic === "alert_state" && data) {
      const gone = new Set(item.ids);
      const left = data.alerts.filter((a) => !gone.has(a.id));
      data.alerts_open = Math.max(0, data.alerts_open - (data.alerts.length - left.length));
      data.alerts_high = Math.max(0, data.alerts_high - data.alerts.filter((a) => a.high && gone.has(a.id)).length);
      data.alerts = left;
      item.ids.forEach((id) => flashing.delete(id));
      renderAlerts(data);
      soon();
    } else if (item.topic !== "ping") {
      soon();
    }
  }
  function connect() {
    lastAttempt = Date.now();
    if (source) source.close();
    source = new EventSource("/api/wall/stream");
    source.onopen = () => { document.body.dataset.stream = "open"; };
    source.onmessage = (ev) => { news(); onItem(JSON.parse(ev.data)); };
    source.onerror = (ev) => {
      document.body.dataset.stream = "error";
      // Closed for good (an HTTP error such as 401), not a dropped connection being retried.
      if (ev.target.readyState === EventSource.CLOSED) checkSignIn();
    };
  }

  // -- the sign-in: a kiosk's viewer session renews itself; an ended one asks to sign in -------
  async function checkSignIn() {
    try { await api("/api/me"); } catch (e) { if (e.status === 401) expired(); }
  }
  function expired() {
    if (signedOut) return;
    signedOut = true;
    if (source) { source.close(); source = null; }
    GW.showError(null);
    show();
  }
  let renewTimer = null;
  async function renew() {
    clearTimeout(renewTimer);
    let next = 30;  // seconds: retry soon after a network error
    try {
      next = (await api("/api/session/renew", {method: "POST"})).renew_in_s;
    } catch (e) {
      if (e.status === 401) { expired(); return; }
      // Not a viewer's session: it ends when it ends. Any other refusal: say so, try again.
      if (e.key === "session.not_viewer") return;
      GW.showError(e);
    }
    renewTimer = setTimeout(renew, Math.min(Math.max(next, 1), 3600) * 1000);
  }
  async function signInAgain() {
    const token = $("relogin-token").value.trim();
    $("relogin-token").value = "";
    const box = $("relogin-error");
    try {
      const r = await fetch("/api/login", {method: "POST", credentials: "same-origin", headers: {Authorization: `Bearer ${token}`}});
      if (!r.ok) throw new GW.ApiError(r.status, (await r.json().catch(() => ({}))).detail);
    } catch (e) {
      box.textContent = e.status === 401 ? t("error.unauthorized") : e.message;
      box.hidden = false;
      return;
    }
    box.hidden = true;
    signedOut = false;
    lastNews = Date.now();
    show();
    await refresh();
    connect();
    renew();
  }
  $("relogin-submit").addEventListener("click", signInAgain);
  $("relogin-token").addEventListener("keydown", (ev) => { if (ev.key === "Enter") signInAgain(); });

  function tick() {
    const now = Date.now();
    $("date").textContent = fmt(new Date(now).toISOString(), "day");
    $("time").textContent = fmt(new Date(now).toISOString(), "seconds");
    show();
    if (!signedOut && now - lastNews > STALE_MS && now - lastAttempt > RECONNECT_MS) connect();
  }
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, 60000);  // "ago", seen in 24 h and the clock's day move on their own
  window.addEventListener("resize", () => { if (data) chart.draw(data.hourly, true); });

  await refresh();
  if (!signedOut) { connect(); renew(); }

  /** The hourly chart: today's in / out against the same weekday's average (dashed). */
  function WallChart(box, legend) {
    let plot = null;
    let size = "";
    const css = getComputedStyle(document.documentElement);
    const colour = (v) => css.getPropertyValue(v).trim();
    return {draw(h, resized = false) {
      const nowHour = Number(hourOf.format(new Date()));
      const upToNow = (xs) => xs.map((v, i) => (i <= nowHour ? v : null));
      const series = [
        {key: "wall.today_in", colour: colour("--in"), values: upToNow(h.today_in)},
        {key: "wall.today_out", colour: colour("--out"), values: upToNow(h.today_out)},
        {key: "wall.avg_in", colour: colour("--in"), values: h.avg_in, dash: true},
        {key: "wall.avg_out", colour: colour("--out"), values: h.avg_out, dash: true},
      ].filter((s) => !s.dash || h.weeks > 0);
      const x = [...Array(24).keys()];
      const key = `${box.clientWidth}x${box.clientHeight}:${series.length}`;
      if (plot && key === size && !resized) { plot.setData([x, ...series.map((s) => s.values)]); return; }
      if (plot) plot.destroy();
      size = key;
      const px = Math.round(window.innerHeight * 0.026);
      const font = `${px}px ${css.fontFamily}`;
      const axis = {stroke: colour("--dim"), font, size: px * 2.2, grid: {stroke: colour("--line"), width: 1}, ticks: {stroke: colour("--line")}};
      plot = new uPlot({
        width: box.clientWidth, height: box.clientHeight, legend: {show: false}, cursor: {show: false},
        scales: {x: {time: false, range: [0, 23]}, y: {range: (u, min, max) => [0, Math.max(4, max * 1.1)]}},
        axes: [{...axis, values: (u, vals) => vals.map((v) => `${v}`), space: px * 3}, {...axis, size: px * 3.2, space: px * 1.8}],
        series: [{}, ...series.map((s) => ({stroke: s.colour, width: Math.max(2, px / 7), dash: s.dash ? [px / 2, px / 3] : undefined, points: {show: false}, spanGaps: false}))],
      }, [x, ...series.map((s) => s.values)], box);
      legend.replaceChildren(...series.map((s) => {
        const k = el("span", {cls: `key${s.dash ? " avg" : ""}`, text: t(s.key, {n: h.weeks})});
        k.style.color = s.colour;
        return k;
      }));
    }};
  }
});
