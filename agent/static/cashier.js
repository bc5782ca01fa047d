// The cashier screen: plain JS against the till's local API and its SSE stream.
//
// Every string that comes from data (product names, promotion ids, customer
// data, scanned codes, error texts) is put on the page as text
// (textContent / text nodes), never parsed as HTML. The page's own texts
// and the local API token come from <meta> tags of the page the till served
// (no inline script: the Content-Security-Policy forbids it).
"use strict";
const $ = (id) => document.getElementById(id);
const meta = (name) => {
  const m = document.querySelector(`meta[name="${name}"]`);
  return m ? m.getAttribute("content") : "";
};
const TOKEN = meta("kopilka-token");
const T = JSON.parse(meta("kopilka-texts") || "{}");
let session = null;

function fmt(key, vars) {
  let s = String(T[key] === undefined ? key : T[key]);
  for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
  return s;
}

function reasonText(reason) {
  return (T.reasons && T.reasons[reason]) || ((T.reason_unknown || "Refused") + ": " + reason);
}

function short(text, n = 60) {
  text = String(text);
  return text.length > n ? text.slice(0, n) + "…" : text;
}

// An element with a class and children; strings become text nodes.
function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function rub(k) {
  const sign = k < 0 ? "-" : "";
  k = Math.abs(k);
  return sign + Math.floor(k / 100) + "." + String(k % 100).padStart(2, "0");
}

function showError(text) {
  const box = $("error");
  if (!text) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = text;
  box.hidden = false;
}

function log(text) {
  const li = el("li", null, new Date().toLocaleTimeString() + " " + text);
  $("log").prepend(li);
  while ($("log").children.length > 40) $("log").lastChild.remove();
}

// One call to the local API. Refusals are thrown as {error, message, ...};
// callers decide how to show them (showRefusal by default).
async function api(method, path, body) {
  const headers = {"Authorization": "Bearer " + TOKEN};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  } catch (e) {
    throw {error: "unreachable", message: T.till_unreachable};
  }
  const doc = await res.json().catch(() => ({error: "bad_answer", message: T.bad_answer}));
  if (!res.ok) throw Object.assign({status: res.status}, doc);
  showError("");
  return doc;
}

function refusalText(e) {
  if (!e || !e.error) return T.bad_answer;
  if (e.error === "unreachable" || e.error === "bad_answer") return e.message;
  return reasonText(e.error);
}

function showRefusal(e) {
  showError(refusalText(e));
  // the till's own masked form of a refused code (card digits masked, tokens elided)
  if (e && e.error) log(fmt("ev_refused", {why: e.error + (e.code_shown ? " " + short(e.code_shown, 40) : "")}));
}

function cell(text, cls) { return el("td", cls || "n", text); }

function renderLine(s, ln, i) {
  const name = (s.names && s.names[ln.sku]) || ln.sku;
  const first = el("td", null, name);
  if (ln.promos && ln.promos.length) first.append(el("div", "promo", ln.promos.join(", ")));
  const tr = el("tr", null, first, cell(ln.qty), cell(rub(ln.amount)),
    cell(ln.discount ? "-" + rub(ln.discount) : ""), cell(ln.redeemed ? "-" + rub(ln.redeemed) : ""),
    cell(rub(ln.paid)), cell(ln.points ? "+" + ln.points : "", "n pts"), el("td"));
  if (session) {
    const b = el("button", "void", T.void);
    b.type = "button";
    b.addEventListener("click", () => api("DELETE", `/v1/sessions/${session.id}/lines/${i}`).then(render).catch(showRefusal));
    tr.lastChild.append(b);
  }
  return tr;
}

function renderCoupons(s) {
  const list = $("coupons");
  list.replaceChildren();
  const coupons = (s && s.coupons) || [];
  if (!coupons.length) { list.append(el("li", "muted", T.no_coupons)); return; }
  for (const c of coupons) {
    const state = c.applied ? el("span", "ok", T.coupon_applied)
      : el("span", "no", T.coupon_not_applied + (c.reason ? " — " + reasonText(c.reason) : ""));
    list.append(el("li", null, String(c.code), " ", state));
  }
}

// The engine's hints: near misses in the panel, the rest (why a promotion
// did or did not apply) behind a details toggle. Texts are data (a bundle
// names its promotions and items), so they go in as text nodes only.
function renderHints(s) {
  const hints = (s && s.hints) || [];
  const near = hints.filter((h) => h.near), other = hints.filter((h) => !h.near);
  const list = $("hints");
  list.replaceChildren();
  if (!near.length) list.append(el("li", "muted", T.no_hints));
  for (const h of near) list.append(el("li", "near", String(h.text)));
  $("hints-other").replaceChildren(...other.map((h) => el("li", h.reason === "applied" ? "ok" : "no", String(h.text))));
  $("hints-why-title").textContent = fmt("hints_why", {n: other.length});
  $("hints-why").hidden = !other.length;
}

// Gift certificates that pay part of the sale (docs/certificates.md): never
// a discount, so the totals above stay the engine's; what is left to pay in money.
function renderCertificates(s, paid) {
  const list = $("certificates");
  list.replaceChildren();
  const tenders = (s && s.tenders) || [];
  if (!tenders.length) list.append(el("li", "muted", T.no_certificates));
  let taken = 0;
  for (const t of tenders) {
    taken += t.amount;
    const left = t.remaining === undefined || t.remaining === null
      ? T.cert_left_later : fmt("cert_left", {rub: rub(t.remaining)});
    list.append(el("li", null, "*" + String(t.cert_id).slice(-4) + " −" + rub(t.amount) + " (" + left + ")"));
  }
  $("to-pay").textContent = tenders.length ? fmt("to_pay", {rub: rub(Math.max(0, paid - taken))}) : "";
}

function render(s) {
  session = s && s.state === "open" ? s : null;
  const tbody = $("basket").querySelector("tbody");
  tbody.replaceChildren();
  const res = s && s.result;
  $("empty").hidden = !!(s && s.lines && s.lines.length);
  $("receipt").textContent = s && s.receipt_id ? fmt("receipt", {id: s.receipt_id}) : "";
  if (res) res.lines.forEach((ln, i) => tbody.append(renderLine(s, ln, i)));
  const t = res ? res.totals : {amount: 0, discount: 0, redeemed: 0, redeemed_points: 0, paid: 0, points: 0};
  $("t-amount").textContent = rub(t.amount);
  $("t-discount").textContent = t.discount ? "-" + rub(t.discount) : "0.00";
  $("t-redeemed").textContent = t.redeemed ? "-" + rub(t.redeemed) + ` (${t.redeemed_points} ${T.points_unit})` : "0.00";
  $("t-paid").textContent = rub(t.paid);
  $("t-points").textContent = String(t.points);
  renderCertificates(s, t.paid);
  const c = s && s.customer;
  $("no-customer").hidden = !!c;
  $("customer").hidden = !c;
  if (c) {
    $("c-card").textContent = String(c.card);
    $("c-tier").textContent = c.tier ? String(c.tier) : T.tier_base;
    $("c-balance").textContent = c.balance + " " + T.points_unit;
    $("c-available").textContent = (c.available_points ?? 0) + " " + T.points_unit;
    $("c-mode").textContent = c.mode === "online" ? T.mode_online : fmt("mode_offline", {n: c.offline_points});
  }
  const max = (s && s.spendable_points) || 0;
  $("points-form").hidden = !(session && c);
  $("points-hint").textContent = fmt("spend_hint", {max});
  $("spend-max").textContent = fmt("spend_max", {n: max, rub: rub(max * ((s && s.point_value) || 100))});
  $("spend-max").disabled = max <= 0;
  $("spend-amount").disabled = max <= 0;
  $("nospend").disabled = !(res && res.totals.redeemed_points > 0);
  renderCoupons(s);
  renderHints(s);
  for (const id of ["pay-cash", "pay-card", "cancel"]) $(id).disabled = !session;
  $("new").disabled = !!session;
}

async function ensureSession() {
  if (session) return session;
  render(await api("POST", "/v1/sessions"));
  return session;
}

// A new card the till may enrol (docs/enrolment.md): the refusal says
// ``enrol: true``; the button enrols it for the open sale.
let enrolCard = null;

function offerEnrol(card) {
  enrolCard = card;
  $("enrol").hidden = card === null;
}

async function enrol() {
  if (!enrolCard || !session) return;
  const card = enrolCard;
  offerEnrol(null);
  try {
    const s = await api("POST", `/v1/sessions/${session.id}/enrol`, {card});
    render(s);
    log(fmt("ev_enrolled", {card: s.customer ? s.customer.card : "", mode: s.mode || ""}));
  } catch (e) { showRefusal(e); }
}

async function submitCode(code) {
  code = code.trim();
  if (!code) return;
  offerEnrol(null);
  try {
    const s = await ensureSession();
    render(await api("POST", `/v1/sessions/${s.id}/scan`, {code}));
  } catch (e) {
    showRefusal(e);
    if (e && e.enrol === true) offerEnrol(code);
  }
}

function redeem(points) {
  return api("POST", `/v1/sessions/${session.id}/redeem`, {points}).then(render).catch(showRefusal);
}

function spendTyped() {
  const max = (session && session.spendable_points) || 0;
  const text = $("points").value.trim().toLowerCase();
  if (text === "max" || text === "макс" || text === "максимум") return redeem("max");
  if (!/^[0-9]{1,9}$/.test(text)) { showError(fmt("spend_bad_number", {max})); return; }
  const n = parseInt(text, 10);
  if (n > max) { showError(fmt("spend_over_max", {max})); return; }
  redeem(n).then(() => { $("points").value = ""; });
}

async function addCoupon(code) {
  code = code.trim();
  if (!code) return;
  try {
    const s = await ensureSession();
    const doc = await api("POST", `/v1/sessions/${s.id}/coupons`, {code});
    render(doc && doc.session ? doc.session : doc);
  } catch (e) {
    showError(fmt("coupon_failed", {why: refusalText(e)}));
  }
}

function refreshStatus(st) {
  const apply = (doc) => {
    $("till").textContent = T.till + " " + doc.till + " · " + doc.store;
    $("queue").textContent = fmt("queue", {n: doc.queue_depth});
    $("bundle").textContent = fmt("bundle", {n: doc.bundle_version});
    const ledger = doc.ledger || "unknown";
    $("link").textContent = {online: T.ledger_online, offline: T.ledger_offline,
      "not configured": T.ledger_not_configured}[ledger] || T.ledger_unknown;
    $("link").className = "pill " + (ledger === "online" ? "ok" : ledger === "offline" ? "bad" : "");
    $("offline").hidden = ledger !== "offline";
    $("offline").textContent = ledger === "offline" ? fmt("offline_banner", {n: doc.queue_depth}) : "";
  };
  if (st) { apply(st); return Promise.resolve(); }
  return fetch("/v1/status").then((r) => r.json()).then(apply).catch(() => {});
}

function on(es, type, fn) {
  es.addEventListener(type, (m) => { if (m.data) fn(JSON.parse(m.data)); });
}

function connect() {
  const es = new EventSource("/v1/events");
  on(es, "hello", (d) => { render(d.session); refreshStatus(d.status); });
  on(es, "session", (d) => {
    log(d.action === "paid" ? fmt("ev_paid", {id: d.session.receipt_id}) : fmt("ev_sale", {what: d.action}));
    render(d.session);
    if (d.action === "paid" || d.action === "cancelled") refreshStatus();
  });
  on(es, "identify_refused", (d) => { showError(reasonText(d.reason)); log(fmt("ev_refused", {why: d.reason})); });
  on(es, "scanner", (d) => log(fmt("ev_scanned", {code: short(d.code)})));
  on(es, "camera", () => log(T.ev_camera));
  on(es, "error", (d) => showError(d.reason ? reasonText(d.reason) : String(d.message)));
  on(es, "printer", (d) => { if (!d.ok) showError(fmt("printer_failed", {why: d.message})); });
  on(es, "sync", () => refreshStatus());
}

for (const node of document.querySelectorAll("[data-t]")) node.textContent = T[node.dataset.t] || node.dataset.t;
$("code").placeholder = T.code_placeholder || "";
$("code-form").addEventListener("submit", (e) => { e.preventDefault(); const v = $("code").value; $("code").value = ""; submitCode(v); });
$("coupon-form").addEventListener("submit", (e) => { e.preventDefault(); const v = $("coupon").value; $("coupon").value = ""; addCoupon(v); });
$("points-form").addEventListener("submit", (e) => { e.preventDefault(); spendTyped(); });
$("spend-max").addEventListener("click", () => redeem("max"));
$("enrol").addEventListener("click", enrol);
$("nospend").addEventListener("click", () => redeem(0));
$("new").addEventListener("click", () => api("POST", "/v1/sessions").then(render).catch(showRefusal));
for (const [id, method] of [["pay-cash", "cash"], ["pay-card", "card"]]) {
  $(id).addEventListener("click", () => api("POST", `/v1/sessions/${session.id}/pay`, {method})
    .then((s) => { render(s); }).catch(showRefusal));
}
$("cancel").addEventListener("click", () => api("POST", `/v1/sessions/${session.id}/cancel`).then(() => render(null)).catch(showRefusal));
render(null);
refreshStatus();
setInterval(refreshStatus, 5000);
connect();
