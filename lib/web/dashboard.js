// The operators' dashboard: counts of background transfers per status, the oldest pending age,
// the queue and its dead-letter queue, the money check, transfers settled per minute and a
// table of recent transfers; refreshed every few seconds from /admin/stats and
// /admin/transfers without reloading the page.

import { createSession, loginForm, rupiah, row } from "./api.js";

const $ = (selector) => document.querySelector(selector);
const REFRESH_MS = 5000;
const STATUSES = ["PENDING", "SUCCESS", "FAILED"];
let timer = null;

const session = createSession("dompet.dashboard.refresh", (message) => signedOut(message));

function notify(message) {
  $("#notice").textContent = message || "";
}

function view(name) {
  $("#view-login").hidden = name !== "login";
  $("#view-board").hidden = name !== "board";
  $("#nav").hidden = name !== "board";
}

function signedOut(message) {
  clearTimeout(timer);
  notify(message);
  view("login");
}

loginForm($("#login-form"), session, () => {
  notify("");
  start();
}, $("#login-mfa-form"));

$("#logout").addEventListener("click", async () => {
  clearTimeout(timer);
  try {
    await session.logout();
  } catch (e) {
    // Forgotten either way.
  }
  signedOut("You have logged out.");
});

$("#status").addEventListener("change", () => refresh());

function start() {
  view("board");
  refresh();
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [stats, transfers] = await Promise.all([session.call("GET", "/admin/stats"), loadTransfers()]);
    showStats(stats.body.result);
    showTransfers(transfers);
    $("#board-error").textContent = "";
    $("#updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e.status === 403) {
      await session.logout().catch(() => {});
      signedOut("This account is not an operator's.");
      return;
    }
    if (e.status === 401) return; // the session ended: the login form is showing
    $("#board-error").textContent = `Could not refresh: ${e.message}`;
  } finally {
    $("#tiles").setAttribute("aria-busy", "false");
    $(".table-wrap").setAttribute("aria-busy", "false");
  }
  if (!$("#view-board").hidden) timer = setTimeout(refresh, REFRESH_MS);
}

/** The selected status, or the newest of every status merged; plus the settled ones for the chart. */
async function loadTransfers() {
  const selected = $("#status").value;
  const wanted = selected ? [selected] : STATUSES;
  if (!wanted.includes("SUCCESS")) wanted.push("SUCCESS");
  const pages = await Promise.all(wanted.map((s) =>
    session.call("GET", `/admin/transfers?status=${s}&limit=100`).then(({ body }) => [s, body.result])));
  const byStatus = Object.fromEntries(pages);
  const shown = (selected ? [selected] : STATUSES).flatMap((s) => byStatus[s]);
  shown.sort((a, b) => (a.created_date < b.created_date ? 1 : a.created_date > b.created_date ? -1 : 0));
  return { shown: shown.slice(0, 50), settled: byStatus.SUCCESS };
}

function showStats(s) {
  for (const status of STATUSES) $(`#count-${status}`).textContent = s.transfers ? String(s.transfers[status]) : "–";
  $("#oldest").textContent = s.oldest_pending_age_seconds == null ? "none" : duration(s.oldest_pending_age_seconds);
  if (s.queue) {
    $("#queue").textContent = `${s.queue.waiting} / ${s.queue.in_flight ?? "–"}`;
    $("#dead-letter").textContent = s.queue.dead_letter == null ? "none" : String(s.queue.dead_letter);
  } else {
    $("#queue").textContent = "in process";
    $("#dead-letter").textContent = "none";
  }
  const m = s.money_check;
  const verdict = $("#money-verdict");
  verdict.textContent = m.verdict;
  verdict.className = m.verdict === "holds" ? "ok" : m.verdict === "broken" ? "bad" : "";
  $("#money-detail").textContent = m.checked_date
    ? ` held ${rupiah(m.held)} = balances + pending; entered ${rupiah(m.entered)} = top-ups − payments · checked ${m.checked_date} UTC`
    : "";
}

function showTransfers({ shown, settled }) {
  const rows = $("#transfer-rows");
  rows.replaceChildren(...shown.map((t) => {
    const tr = row([t.created_date, t.transfer_status, rupiah(t.amount), short(t.from_user), short(t.to_user), t.settled_date ?? "", t.transfer_id]);
    tr.dataset.transferId = t.transfer_id;
    return tr;
  }));
  if (!shown.length) rows.append(row(["No transfers.", "", "", "", "", "", ""]));
  chart(settled);
}

/** Bars of transfers settled per minute over the last 30 minutes (UTC, from settled_date). */
function chart(settled) {
  const svg = $("#chart");
  const minutes = 30;
  const now = Math.floor(Date.now() / 60000);
  const counts = new Array(minutes).fill(0);
  for (const t of settled) {
    if (!t.settled_date) continue;
    const at = Math.floor(Date.parse(`${t.settled_date.replace(" ", "T")}Z`) / 60000);
    const age = now - at;
    if (age >= 0 && age < minutes) counts[minutes - 1 - age] += 1;
  }
  const max = Math.max(1, ...counts);
  const ns = "http://www.w3.org/2000/svg";
  const width = 600 / minutes;
  const bars = counts.map((n, i) => {
    const rect = document.createElementNS(ns, "rect");
    const h = (n / max) * 140;
    rect.setAttribute("x", String(i * width + 1));
    rect.setAttribute("y", String(150 - h));
    rect.setAttribute("width", String(width - 2));
    rect.setAttribute("height", String(h));
    rect.setAttribute("class", "bar");
    const title = document.createElementNS(ns, "title");
    title.textContent = `${n} settled ${minutes - 1 - i} min ago`;
    rect.append(title);
    return rect;
  });
  const axis = document.createElementNS(ns, "line");
  axis.setAttribute("x1", "0");
  axis.setAttribute("x2", "600");
  axis.setAttribute("y1", "150");
  axis.setAttribute("y2", "150");
  axis.setAttribute("class", "axis");
  svg.replaceChildren(...bars, axis);
  const total = counts.reduce((a, b) => a + b, 0);
  $("#chart-note").textContent = `${total} settled in the last ${minutes} minutes (of the newest ${settled.length} settled transfers); busiest minute ${max === 1 && total === 0 ? 0 : max}.`;
}

function duration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function short(id) {
  return id ? `${id.slice(0, 8)}…` : "";
}

(async () => {
  if (session.hasLogin()) {
    try {
      await session.resume();
      start();
      return;
    } catch (e) {
      // Shown by the session's signed-out handler.
    }
  }
  view("login");
})();
