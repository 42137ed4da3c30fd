// The review queue: one screen of items, each the gate's face beside the person's reference
// photo, "是否为 王秀华？". Keyboard first: ← → / J K choose, Y or Enter confirm, N reject,
// U skip; buttons too; confirm or reject everything shown after a confirm step.
"use strict";
GW.start(async (_me) => {
  const {t, api, el, fmt, $} = GW;
  const PER_SCREEN = 8;
  const WINDOW_DAYS = 7;
  let items = [];  // {item, card, done: null | "confirmed" | "rejected" | "skipped"}
  let here = 0;

  function picture(item) {
    if (!item.has_face) return el("div", {cls: "noref", text: t("review.no_face")});
    return el("img", {src: `/api/review/${item.id}/face/context`, alt: t("review.gate_face")});
  }
  function reference(item) {
    if (!item.has_reference) return el("div", {cls: "noref reference-missing", text: t("review.no_reference")});
    return el("img", {cls: "reference", src: `/api/review/${item.id}/face/reference`, alt: t("review.reference")});
  }
  /** Two lines: where the person lives and the score; where and when the gate saw the face. */
  function facts(item) {
    const home = [item.building && t("common.building_n", {n: item.building}), item.unit && `${item.unit} ${t("common.unit")}`];
    return [
      el("p", {cls: "facts who", text: [home.filter(Boolean).join(" "), t("review.score", {score: GW.pct(item.score)})].filter(Boolean).join(" · ")}),
      el("p", {cls: "facts seen", text: `${t("review.where", {gate: GW.gateName(item.gate), camera: GW.cameraName(item.gate, item.camera)})} · ${fmt(item.ts, "datetime")}`}),
    ];
  }
  function kindLine(item) {
    const bits = [el("span", {cls: `kind ${item.kind}`, text: t(`review.kind.${item.kind}`)})];
    const more = [];
    if (item.kind === "returning_visitor" && item.days != null) more.push(t("review.days", {n: item.days, window: WINDOW_DAYS}));
    if (item.visitor_id) more.push(t("review.visitor", {id: item.visitor_id}));
    if (more.length) bits.push(" " + more.join(" · "));
    return el("p", {cls: "facts"}, ...bits);
  }
  function card(item, i) {
    const c = el("article", {cls: "rcard", tabindex: "0", data: {id: item.id}, onclick: () => select(i)},
      el("div", {cls: "pics"},
        el("figure", {}, picture(item), el("figcaption", {text: t("review.gate_face")})),
        el("figure", {}, reference(item), el("figcaption", {text: t("review.reference")}))),
      el("h2", {cls: "question", text: t("review.question", {name: item.person_name})}),
      ...facts(item),
      kindLine(item),
      el("div", {cls: "buttons"},
        el("button", {type: "button", cls: "confirm", text: t("review.confirm"), onclick: (ev) => { ev.stopPropagation(); select(i); decide("confirm"); }}),
        el("button", {type: "button", cls: "danger reject", text: t("review.reject"), onclick: (ev) => { ev.stopPropagation(); select(i); decide("reject"); }}),
        el("button", {type: "button", cls: "secondary skip", text: t("review.skip"), onclick: (ev) => { ev.stopPropagation(); select(i); skip(); }})),
      el("div", {cls: "verdict"}));
    return c;
  }

  function open() { return items.filter((x) => !x.done); }
  function bulkLabels() {
    const n = open().length;
    $("confirm-all").textContent = t("review.confirm_all", {n});
    $("reject-all").textContent = t("review.reject_all", {n});
    $("confirm-all").disabled = $("reject-all").disabled = n === 0;
  }
  function select(i) {
    if (!items.length) return;
    here = (i + items.length) % items.length;
    items.forEach((x, k) => x.card.classList.toggle("here", k === here));
    items[here].card.focus({preventScroll: false});
  }
  function nextOpen() {
    for (let k = 1; k <= items.length; k++) {
      const i = (here + k) % items.length;
      if (!items[i].done) { select(i); return; }
    }
    bulkLabels();
  }
  function mark(x, done) {
    x.done = done;
    x.card.classList.add(done);
    x.card.dataset.verdict = done;
    x.card.querySelector(".verdict").textContent = t(`review.${done}`);
    x.card.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    bulkLabels();
  }
  async function decide(verdict) {
    const x = items[here];
    if (!x || x.done) return;
    try {
      const r = await api(`/api/review/${x.item.id}/verdict`, {method: "POST", body: {verdict}});
      GW.showError(null);
      mark(x, r.state);
      nextOpen();
      await count();
    } catch (e) { GW.showError(e); }
  }
  function skip() {
    const x = items[here];
    if (!x || x.done) return;
    mark(x, "skipped");
    nextOpen();
  }

  let bulkVerdict = null;
  function askBulk(verdict) {
    const n = open().length;
    if (!n) return;
    bulkVerdict = verdict;
    $("bulk-text").textContent = t(verdict === "confirm" ? "review.bulk_confirm_q" : "review.bulk_reject_q", {n});
    $("bulk-dialog").showModal();
  }
  async function bulk() {
    $("bulk-dialog").close();
    const todo = open();
    try {
      const r = await api("/api/review/verdicts", {method: "POST", body: {verdicts: todo.map((x) => ({id: x.item.id, verdict: bulkVerdict}))}});
      GW.showError(null);
      for (const res of r.results) {
        const x = todo.find((y) => y.item.id === res.id);
        if (x && res.state && res.state !== "open") mark(x, res.state);
      }
      await count();
    } catch (e) { GW.showError(e); }
  }

  async function count() {
    const r = await api(`/api/review?state=open&limit=1`);
    $("count").textContent = t("review.count", {n: r.open});
  }
  async function load() {
    const r = await api(`/api/review?state=open&limit=${PER_SCREEN}`);
    $("count").textContent = t("review.count", {n: r.open});
    items = r.items.map((item) => ({item, card: null, done: null}));
    items.forEach((x, i) => { x.card = card(x.item, i); });
    $("grid").replaceChildren(...items.map((x) => x.card));
    $("none").hidden = items.length > 0;
    bulkLabels();
    here = 0;
    if (items.length) select(0);
    document.body.dataset.ready = "1";
  }

  document.addEventListener("keydown", (ev) => {
    if ($("bulk-dialog").open || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement) return;
    const k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const act = {ArrowRight: () => select(here + 1), ArrowDown: () => select(here + 4), j: () => select(here + 1),
      ArrowLeft: () => select(here - 1), ArrowUp: () => select(here - 4), k: () => select(here - 1),
      y: () => decide("confirm"), Enter: () => decide("confirm"), n: () => decide("reject"), u: () => skip()}[k];
    if (!act) return;
    ev.preventDefault();
    act();
  });
  $("confirm-all").addEventListener("click", () => askBulk("confirm"));
  $("reject-all").addEventListener("click", () => askBulk("reject"));
  $("bulk-go").addEventListener("click", bulk);
  $("bulk-cancel").addEventListener("click", () => $("bulk-dialog").close());
  $("next").addEventListener("click", () => load().catch(GW.showError));
  await load();
});
