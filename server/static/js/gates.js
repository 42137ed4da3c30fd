// The gates (officers): every camera online or not and since when, its camera, frame rate,
// outbox backlog, last passage and status, software and calibration; refreshed every 5 s.
"use strict";
GW.start(async (_me) => {
  const {t, api, el, fmt, ago, $} = GW;
  const EVERY_MS = 5000;
  const when = (iso) => (iso ? t("gates.when", {time: fmt(iso, "datetime"), ago: ago(iso)}) : t("common.never"));
  const number = (n, digits = 0) => (n == null ? "–" : n.toFixed(digits));

  function row(g) {
    const state = g.online == null ? "unknown" : g.online ? "online" : "offline";
    const camCls = g.camera_state === "camera_lost" ? "red" : g.camera_state === "ok" ? "green" : "";
    const status = g.last_status == null ? [t("common.never")] : [
      t("gates.age_s", {n: Math.round(g.status_age_s)}),
      t("gates.every_s", {n: g.status_interval_s}),
      g.clock_skew_s ? t("gates.skew", {n: g.clock_skew_s}) : null,
    ];
    const troubles = [
      g.outbox_error ? t("gates.outbox_error", {code: g.outbox_error}) : null,
      g.dropped_frames ? t("gates.dropped", {n: g.dropped_frames}) : null,
      g.lost_events ? t("gates.lost", {n: g.lost_events}) : null,
    ];
    const refused = [  // the gate's passages refused (server/ingest/gatecheck.py), as on the wall
      g.problem ? t(`gate.problem.${g.problem}`) : null,
      g.refused_recent ? t("gates.refused_recent", {n: g.refused_recent}) : null,
    ];
    const calib = [
      g.gallery_version != null ? t("gates.gallery", {v: g.gallery_version, n: g.gallery_templates ?? "–"}) : null,
      g.match_threshold != null ? t("gates.threshold", {t: g.match_threshold.toFixed(3)}) : null,
      g.calibration,
    ];
    const lines = (xs, cls = "") => xs.filter(Boolean).map((x) => el("div", {cls, text: x}));
    return el("tr", {data: {gate: g.gate, camera: g.camera, state}},
      el("td", {cls: "name", text: GW.where(g.gate, g.camera)}),
      el("td", {cls: "gcell"}, el("span", {cls: `gstate ${state}`, text: t(`gates.${state}`)}), ...lines(refused, "red")),
      el("td", {text: g.since ? when(g.since) : "–"}),
      el("td", {cls: camCls, text: g.camera_state ? GW.label("gates.camera_state", g.camera_state) : "–"}),
      el("td", {cls: "num", text: number(g.fps, 1)}),
      el("td", {cls: "num"}, el("div", {cls: g.outbox_depth ? "amber" : "", text: number(g.outbox_depth)}), ...lines(troubles, "red")),
      el("td", {text: when(g.last_passage)}),
      el("td", {}, ...lines(status)),
      el("td", {text: g.software || "–"}),
      el("td", {cls: "calib"}, ...lines(calib)));
  }

  async function load() {
    let h;
    try { h = await api("/api/gates/health"); } catch (e) {
      if (e.status === 403) {
        $("gates-body").hidden = true;
        $("forbidden").hidden = false;
        $("forbidden").textContent = e.message;
        return false;
      }
      GW.showError(e);
      return true;
    }
    GW.showError(null);
    const link = $("link");
    link.textContent = t(!h.broker ? "gates.broker_lost" : h.live ? "gates.broker_ok" : "gates.ingest_degraded");
    link.className = `link-state ${!h.broker || !h.live ? "red" : "green"}`;
    const on = h.gates.filter((g) => g.online === true).length;
    const off = h.gates.filter((g) => g.online === false).length;
    $("summary").textContent = t("gates.summary", {n: h.gates.length, on, off});
    $("rows").replaceChildren(...(h.gates.length ? h.gates.map(row)
      : [el("tr", {}, el("td", {colspan: "10", cls: "muted", text: t("gates.none")}))]));
    document.body.dataset.ready = "1";
    return true;
  }
  if (await load()) setInterval(load, EVERY_MS);
});
