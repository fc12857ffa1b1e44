// The operators' dashboard: counts of background transfers per status, the oldest pending age,
// the queue and its dead-letter queue, the money check, transfers settled per minute and a
// table of recent transfers; refreshed every few seconds from /admin/stats and
// /admin/transfers without reloading the page. In Bahasa Indonesia or English (i18n.js).

import { createSession, loginForm, row } from "./api.js";
import {
  t, say, sayWith, plain, rupiah, number, when, errorText, wireLanguageSwitch, onLanguageChange,
} from "./i18n.js";

const $ = (selector) => document.querySelector(selector);
const REFRESH_MS = 5000;
const STATUSES = ["PENDING", "SUCCESS", "FAILED"];
let timer = null;

const session = createSession("dompet.dashboard.refresh", (messageKey) => signedOut(messageKey));

/** The notice above the views: a key of i18n.js, or nothing. */
function notify(messageKey) {
  if (messageKey) say($("#notice"), messageKey);
  else plain($("#notice"), "");
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
  signedOut("notice.logged_out");
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
    plain($("#board-error"), "");
    const at = new Date().toISOString();
    say($("#updated"), "dash.updated", { time: at });
  } catch (e) {
    if (e.status === 403) {
      await session.logout().catch(() => {});
      signedOut("dash.not_operator");
      return;
    }
    if (e.status === 401) return; // the session ended: the login form is showing
    sayWith($("#board-error"), () => t("dash.refresh_failed", { message: errorText(e) }));
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
  for (const status of STATUSES) plain($(`#count-${status}`), s.transfers ? number(s.transfers[status]) : "–");
  if (s.oldest_pending_age_seconds == null) say($("#oldest"), "dash.none");
  else sayWith($("#oldest"), () => duration(s.oldest_pending_age_seconds));
  if (s.queue) {
    plain($("#queue"), `${number(s.queue.waiting)} / ${s.queue.in_flight == null ? "–" : number(s.queue.in_flight)}`);
    if (s.queue.dead_letter == null) say($("#dead-letter"), "dash.none");
    else plain($("#dead-letter"), number(s.queue.dead_letter));
  } else {
    say($("#queue"), "dash.in_process");
    say($("#dead-letter"), "dash.none");
  }
  const m = s.money_check;
  const verdict = $("#money-verdict");
  say(verdict, `dash.${m.verdict}`);
  verdict.className = m.verdict === "holds" ? "ok" : m.verdict === "broken" ? "bad" : "";
  if (m.checked_date) say($("#money-detail"), "dash.money_detail", { held: m.held, entered: m.entered, date: m.checked_date });
  else plain($("#money-detail"), "");
}

function showTransfers({ shown, settled }) {
  const rows = $("#transfer-rows");
  rows.replaceChildren(...shown.map((x) => {
    const tr = row([when(x.created_date), t(`status.${x.transfer_status}`), rupiah(x.amount), short(x.from_user),
      short(x.to_user), x.settled_date ? when(x.settled_date) : "", x.transfer_id]);
    tr.dataset.transferId = x.transfer_id;
    return tr;
  }));
  if (!shown.length) rows.append(row([t("dash.no_transfers"), "", "", "", "", "", ""]));
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
    title.textContent = t("dash.bar", { n, ago: minutes - 1 - i });
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
  say($("#chart-note"), "dash.chart_note", { total, minutes, newest: settled.length, max: max === 1 && total === 0 ? 0 : max });
}

function duration(seconds) {
  const [s, min, h] = [t("unit.s"), t("unit.min"), t("unit.h")];
  if (seconds < 60) return `${seconds} ${s}`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} ${min} ${seconds % 60} ${s}`;
  return `${Math.floor(seconds / 3600)} ${h} ${Math.floor((seconds % 3600) / 60)} ${min}`;
}

function short(id) {
  return id ? `${id.slice(0, 8)}…` : "";
}

wireLanguageSwitch();
// A switched language: the board is drawn again at once (its rows and chart in the new words).
onLanguageChange(() => {
  if (!$("#view-board").hidden) refresh();
});

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
