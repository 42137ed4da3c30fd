// A passage's face crop in a fixed-size box: asked for when the box comes into view (the gate
// machine holds it; the server asks on demand, each view audited), shown as a picture, or as
// the reason there is none ("门岗离线，暂无抓拍", "门岗繁忙，请稍后再试", "抓拍已过保存期", "无抓拍").
// A page that re-renders its rows reuses the answers it already has.
"use strict";
const GWFaces = (() => {
  const answers = new Map();  // event id -> Promise<{state, src?}>
  const REASONS = {"faces.offline": "offline", "faces.busy": "busy", "faces.expired": "expired", "faces.none": "none"};

  function dataUrl(blob) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.onerror = () => reject(r.error);
      r.readAsDataURL(blob);  // the pages' CSP allows data: pictures, not blob:
    });
  }
  async function ask(eventId) {
    let r;
    try {
      r = await fetch(`/api/passages/${encodeURIComponent(eventId)}/face`, {credentials: "same-origin"});
    } catch (e) { return {state: "error"}; }
    if (r.ok) return {state: "ok", src: await dataUrl(await r.blob())};
    if (r.status === 403) return {state: "forbidden"};
    const body = await r.json().catch(() => ({}));
    const reason = body && body.detail && body.detail.reason;
    return {state: REASONS[reason] || (r.status === 404 ? "none" : "error")};
  }
  function answer(eventId, fresh) {
    if (fresh || !answers.has(eventId)) {
      const p = ask(eventId);
      answers.set(eventId, p);
      // An offline gate may be back soon: do not keep that answer.
      p.then((a) => { if (a.state !== "ok" && a.state !== "expired" && a.state !== "none") answers.delete(eventId); });
    }
    return answers.get(eventId);
  }

  function show(box, a) {
    box.dataset.state = a.state;
    if (a.state === "ok") {
      box.replaceChildren(GW.el("img", {src: a.src, alt: box.dataset.alt, title: box.dataset.alt, loading: "lazy", decoding: "async"}));
    } else {
      box.replaceChildren(why(GW.t(`faces.${a.state}`)));
    }
  }
  /** The reason as text that breaks after its commas first ("门岗离线，" / "暂无抓拍"). */
  function why(text) {
    const parts = text.match(/[^，,：:]+[，,：:]?\s*/g) || [text];
    return GW.el("span", {cls: "why"}, ...parts.map((p) => GW.el("span", {cls: "seg", text: p})));
  }
  async function load(box) {
    if (box.dataset.asked) return;
    box.dataset.asked = "1";
    show(box, await answer(box.dataset.event));
  }
  const seen = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const e of entries) if (e.isIntersecting) { seen.unobserve(e.target); load(e.target); }
    }, {rootMargin: "200px"})
    : null;

  /** A fixed-size box for passage `eventId`'s crop; size is "s" (table rows), "m" or "l". */
  function box(eventId, {size = "s", alt = ""} = {}) {
    const b = GW.el("div", {cls: `face-box ${size}`, data: {event: eventId, state: "loading", alt}},
      why(GW.t("faces.loading")));
    if (seen) seen.observe(b); else load(b);
    return b;
  }
  /** The alt text of a passage's crop: where (the site's display names) and when. */
  const alt = (p) => GW.t("faces.alt", {where: GW.where(p.gate, p.camera), time: GW.fmt(p.ts, "datetime")});
  return {box, alt};
})();
