// The cashier screen: plain JS against the till's local API and its SSE stream.
"use strict";
const $ = (id) => document.getElementById(id);
let session = null;

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
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + " " + text;
  $("log").prepend(li);
  while ($("log").children.length > 40) $("log").lastChild.remove();
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method, headers: {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const doc = await res.json().catch(() => ({error: "bad_answer", message: "The till answered something unreadable."}));
  if (!res.ok) { showError(doc.message || doc.error); throw doc; }
  showError("");
  return doc;
}

function render(s) {
  session = s && (s.state === "open") ? s : null;
  const tbody = $("basket").querySelector("tbody");
  tbody.replaceChildren();
  const res = s && s.result;
  $("empty").hidden = !!(s && s.lines.length);
  $("receipt").textContent = s && s.receipt_id ? "receipt " + s.receipt_id : "";
  if (res) {
    res.lines.forEach((ln, i) => {
      const tr = document.createElement("tr");
      const name = (s.names && s.names[ln.sku]) || ln.sku;
      const promos = ln.promos.length ? `<div class="promo">${ln.promos.join(", ")}</div>` : "";
      tr.innerHTML = `<td>${escapeHtml(name)}${promos}</td><td class="n">${ln.qty}</td>` +
        `<td class="n">${rub(ln.amount)}</td><td class="n">${ln.discount ? "-" + rub(ln.discount) : ""}</td>` +
        `<td class="n">${rub(ln.paid)}</td><td></td>`;
      if (session) {
        const b = document.createElement("button");
        b.textContent = "Void"; b.className = "void";
        b.onclick = () => api("DELETE", `/v1/sessions/${session.id}/lines/${i}`).then(render).catch(() => {});
        tr.lastChild.append(b);
      }
      tbody.append(tr);
    });
  }
  const t = res ? res.totals : {amount: 0, discount: 0, redeemed: 0, paid: 0, points: 0};
  $("t-amount").textContent = rub(t.amount);
  $("t-discount").textContent = t.discount ? "-" + rub(t.discount) : "0.00";
  $("t-redeemed").textContent = t.redeemed ? "-" + rub(t.redeemed) + ` (${t.redeemed_points} pts)` : "0.00";
  $("t-paid").textContent = rub(t.paid);
  $("t-points").textContent = t.points;
  const c = s && s.customer;
  $("no-customer").hidden = !!c;
  $("customer").hidden = !c;
  if (c) {
    $("c-card").textContent = c.card;
    $("c-tier").textContent = c.tier || "base";
    $("c-balance").textContent = c.balance + " pts";
    $("c-mode").textContent = c.mode === "online" ? "online" : "offline (limit " + c.offline_points + " pts)";
  }
  const can = (s && s.spendable_points) || 0;
  const spent = res ? res.totals.redeemed_points : 0;
  $("spend").hidden = !(session && c && can > 0 && spent < can);
  $("spend").textContent = `Spend ${can} points (−${rub(can * (s ? s.point_value : 100))})`;
  $("nospend").hidden = !(session && c && spent > 0);
  for (const id of ["pay-cash", "pay-card", "cancel"]) $(id).disabled = !session;
  $("new").disabled = !!session;
}

function escapeHtml(t) {
  return String(t).replace(/[&<>"']/g, (ch) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch]));
}

async function ensureSession() {
  if (session) return session;
  return render(await api("POST", "/v1/sessions")), session;
}

async function submitCode(code) {
  code = code.trim();
  if (!code) return;
  try {
    const s = await ensureSession();
    render(await api("POST", `/v1/sessions/${s.id}/scan`, {code}));
  } catch (e) { if (e && e.error) log("refused: " + e.error); }
}

async function refreshStatus(st) {
  if (!st) st = await fetch("/v1/status").then((r) => r.json());
  $("till").textContent = st.till + " · " + st.store;
  $("queue").textContent = "queue " + st.queue_depth;
  $("bundle").textContent = "bundle v" + st.bundle_version;
  const online = st.ledger === "online";
  $("link").textContent = "ledger " + (st.ledger || "offline");
  $("link").className = "pill " + (online ? "ok" : "bad");
}

function connect() {
  const es = new EventSource("/v1/events");
  es.addEventListener("hello", (m) => { const d = JSON.parse(m.data); render(d.session); refreshStatus(d.status); });
  es.addEventListener("session", (m) => {
    const d = JSON.parse(m.data);
    log("sale " + d.action);
    render(d.session.state === "open" ? d.session : d.session);
    if (d.action === "paid" || d.action === "cancelled") refreshStatus();
  });
  es.addEventListener("identify_refused", (m) => { const d = JSON.parse(m.data); showError(d.message); log("code refused: " + d.reason); });
  es.addEventListener("scan", (m) => { const d = JSON.parse(m.data); log("scanned " + d.code); });
  es.addEventListener("camera", (m) => { log("camera read a code"); });
  es.addEventListener("error", (m) => { if (m.data) { const d = JSON.parse(m.data); showError(d.message); } });
  es.addEventListener("printer", (m) => { const d = JSON.parse(m.data); if (!d.ok) showError("Receipt not printed: " + d.message + ". It will be reprinted."); });
  es.addEventListener("sync", (m) => refreshStatus());
}

$("code-form").addEventListener("submit", (e) => { e.preventDefault(); const v = $("code").value; $("code").value = ""; submitCode(v); });
$("new").onclick = () => api("POST", "/v1/sessions").then(render).catch(() => {});
$("spend").onclick = () => api("POST", `/v1/sessions/${session.id}/redeem`, {points: "max"}).then(render).catch(() => {});
$("nospend").onclick = () => api("POST", `/v1/sessions/${session.id}/redeem`, {points: 0}).then(render).catch(() => {});
$("pay-cash").onclick = () => api("POST", `/v1/sessions/${session.id}/pay`, {method: "cash"}).then((s) => { render(s); log("paid, receipt " + s.receipt_id); }).catch(() => {});
$("pay-card").onclick = () => api("POST", `/v1/sessions/${session.id}/pay`, {method: "card"}).then((s) => { render(s); log("paid, receipt " + s.receipt_id); }).catch(() => {});
$("cancel").onclick = () => api("POST", `/v1/sessions/${session.id}/cancel`).then(() => render(null)).catch(() => {});
render(null);
refreshStatus().catch(() => {});
connect();
