// The wall screen: figures from /api/wall, live passages and alerts from /api/wall/stream.
// A kiosk: it reconnects by itself and says so, in red, when its data is stale.
"use strict";
GW.start(async (_me) => {
  const {$, t, el, fmt, ago, label, api, site} = GW;
  const ROLES = ["resident", "visitor", "courier", "staff"];
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
    return el("li", {cls: a.high ? "high" : "", data: {rule: a.rule}},
      el("span", {cls: "rule", text: label("rule", a.rule)}),
      el("span", {cls: "who", text: who(a) || label("role", a.role)}),
      el("span", {cls: "line2", text: when}));
  }
  function gateRow(g) {
    const parts = [g.outbox_depth ? t("wall.outbox", {n: g.outbox_depth}) : null,
      g.fps != null ? t("wall.fps", {n: Math.round(g.fps)}) : null,
      t("wall.last_passage", {time: g.last_passage ? fmt(g.last_passage, "time") : t("common.never")}),
    ].filter(Boolean).join(" · ");
    return el("li", {cls: g.online ? "" : "dead"},
      el("span", {cls: "name", text: `${GW.gateName(g.gate)} · ${GW.cameraName(g.gate, g.camera)}`}),
      el("span", {cls: `state ${g.online ? "on" : "off"}`, text: t(g.online ? "wall.online" : "wall.offline")}),
      el("span", {cls: "who", text: parts}));
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
    list("gates", d.gates, gateRow, t("wall.no_gates"));
    chart.draw(d.hourly);
    document.body.dataset.ready = "1";
  }
  function renderAlerts(d) {
    const items = d.alerts.map(alertRow);
    const more = d.alerts_open - d.alerts.length;
    if (more > 0) items.push(el("li", {cls: "empty", text: t("wall.alerts_more", {n: more})}));
    $("alerts").replaceChildren(...(items.length ? items : [el("li", {cls: "empty", text: t("wall.alerts_none")})]));
    $("alerts-count").textContent = d.alerts_open ? t("wall.alerts_count", {n: d.alerts_open}) : "";
    $("alerts-tile").classList.toggle("high", d.alerts_high > 0);
  }

  let lastRefresh = 0;
  let pending = null;
  async function refresh() {
    lastRefresh = Date.now();
    try { render(await api("/api/wall")); GW.showError(null); } catch (e) { GW.showError(e); }
  }
  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, Math.max(200, lastRefresh + REFRESH_MIN_MS - Date.now()));
  }

  // -- the hourly chart (uPlot) ----------------------------------------------------------------
  const chart = WallChart($("chart"), $("legend"));

  // -- sound: browsers play only after a gesture, so one click enables it ----------------------
  let audio = null;
  const soundButton = $("sound");
  soundButton.hidden = false;
  soundButton.addEventListener("click", () => {
    audio = new AudioContext();
    audio.resume();
    soundButton.hidden = true;
    $("sound-on").hidden = false;
  });
  function beep(high) {
    if (!audio) return;
    const start = audio.currentTime + 0.02;
    for (let i = 0; i < (high ? 3 : 1); i++) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = high ? 880 : 660;
      gain.gain.value = 0.4;
      osc.connect(gain).connect(audio.destination);
      osc.start(start + i * 0.35);
      osc.stop(start + i * 0.35 + 0.22);
    }
    document.body.dataset.sounds = String(Number(document.body.dataset.sounds || 0) + 1);
  }

  // -- the live stream ---------------------------------------------------------------------
  let source = null;
  let lastNews = Date.now();
  let lastAttempt = 0;
  let staleSince = null;
  function news() {
    lastNews = Date.now();
    if (staleSince !== null) {
      staleSince = null;
      $("stale").hidden = true;
      document.body.classList.remove("is-stale");
      $("live").hidden = false;
      refresh();
    }
  }
  function onItem(item) {
    if (item.topic === "passage") {
      const rows = $("passages");
      rows.querySelectorAll("li.empty").forEach((e) => e.remove());
      rows.prepend(passageRow(item, true));
      while (rows.children.length > maxRows) rows.lastElementChild.remove();
      soon();
    } else if (item.topic === "alert") {
      const tile = $("alerts-tile");
      if (item.high) tile.classList.add("high");
      $("alerts").querySelectorAll("li.empty").forEach((e) => e.remove());
      $("alerts").prepend(alertRow(item));
      tile.classList.remove("flash");
      void tile.offsetWidth;  // restart the animation
      tile.classList.add("flash");
      beep(item.high);
      soon();
    } else if (item.topic !== "ping") {
      soon();
    }
  }
  function connect() {
    lastAttempt = Date.now();
    if (source) source.close();
    source = new EventSource("/api/wall/stream");
    source.onopen = () => { document.body.dataset.stream = "open"; news(); };
    source.onmessage = (ev) => { news(); onItem(JSON.parse(ev.data)); };
    source.onerror = () => { document.body.dataset.stream = "error"; };
  }
  function tick() {
    const now = Date.now();
    $("date").textContent = fmt(new Date(now).toISOString(), "day");
    $("time").textContent = fmt(new Date(now).toISOString(), "seconds");
    if (now - lastNews > STALE_MS) {
      if (staleSince === null) {
        staleSince = lastNews;
        $("stale").textContent = t("wall.stale", {time: fmt(new Date(staleSince).toISOString(), "seconds")});
        $("stale").hidden = false;
        document.body.classList.add("is-stale");
        $("live").hidden = true;
      }
      if (now - lastAttempt > RECONNECT_MS) connect();
    }
  }
  tick();
  setInterval(tick, 1000);
  setInterval(refresh, 60000);  // "ago", seen in 24 h and the clock's day move on their own
  window.addEventListener("resize", () => { if (data) chart.draw(data.hourly, true); });

  await refresh();
  connect();

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
