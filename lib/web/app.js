// The dompet web app: register, log in (with its second step), a forgotten password or PIN,
// the account with its cat, picture and two-step sign-in, top up, pay, transfer (the recipient
// confirmed first, then the transfer's live status), transactions, profile, security (logins,
// sign-in details, closing) and entities, in Bahasa Indonesia or English. Views are chosen by
// the URL's hash (#/login, #/account, ...); every request goes through api.js, every word
// through i18n.js.

import {
  createSession, loginForm, showErrors, clearErrors, busy, amount, row, codeField, secretField,
  identifierField,
} from "./api.js";
import {
  t, say, sayWith, sayAttribute, plain, rupiah, when, day, errorText, wireLanguageSwitch, onLanguageChange,
} from "./i18n.js";

const $ = (selector, root = document) => root.querySelector(selector);
const session = createSession("dompet.app.refresh", (messageKey) => {
  signedOut();
  notify(messageKey);
  go("login");
});
const PUBLIC_VIEWS = ["login", "register", "forgot"];
let account = null;

/** Forgets what the tab showed of the account that was signed in: the next one starts clean
 * (no question still open, no transfer still followed, no picture of someone else's). */
function signedOut() {
  account = null;
  cancelConfirm();
  followed += 1;
  plain($("#transfer-status"), "");
  delete $("#transfer-status").dataset.status;
  setImage($("#picture-current"), null);
  setImage($("#transfer-picture"), null);
  clearPreview();
  $("#picture-form").reset();
  say($("#picture-file-name"), "picture.no_file");
  for (const list of [$("#tx-rows"), $("#entity-rows"), $("#session-rows")]) list.replaceChildren();
  txRows = [];
  entityRowsShown = [];
  entitiesListed = false;
  sessionsShown = [];
}

/** The notice above the views: a key of i18n.js, or nothing. */
function notify(messageKey, params) {
  if (messageKey) say($("#notice"), messageKey, params);
  else plain($("#notice"), "");
}

/** A notice with the app's words for an API error. */
function notifyError(e) {
  sayWith($("#notice"), () => errorText(e));
}

function go(view) {
  if (location.hash !== `#/${view}`) location.hash = `#/${view}`;
  else show(view);
}

async function show(view) {
  const signedIn = session.hasLogin();
  if (!document.getElementById(`view-${view}`)) view = signedIn ? "account" : "login";
  if (!signedIn && !PUBLIC_VIEWS.includes(view)) view = "login";
  if (signedIn && PUBLIC_VIEWS.includes(view)) view = "account";
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `view-${view}`;
  $("#nav").hidden = !signedIn;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${view}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  current = view;
  document.title = t("title", { view: $(`#view-${view} h1`).textContent });
  const load = LOADERS[view];
  if (load) {
    try {
      await load();
    } catch (e) {
      if (e.status !== 401) notifyError(e);
    }
  }
}

let current = null;

// A switched language: the page's words are rewritten by i18n.js; what the views drew from data
// (facts, tables, amounts and dates) is drawn again from what they hold, without asking the
// server again: nothing typed into a form is lost, no page of a list is dropped.
onLanguageChange(() => {
  if (account) renderAccount();
  renderTransactions();
  renderSessions();
  renderEntities();
  if (current) document.title = t("title", { view: $(`#view-${current} h1`).textContent });
});

const LOADERS = {
  account: async () => {
    await loadAccount();
    await loadPicture();
  },
  wallet: loadAccount,
  transactions: () => loadTransactions(true),
  profile: loadProfile,
  entities: () => loadEntities(true),
  security: () => Promise.all([loadAccount(), loadSessions()]),
};

/** Handles the submit of the form `selector`: the page stays, the form's last errors go. */
function onSubmit(selector, handle) {
  $(selector).addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(event.target);
    return handle(event.target);
  });
}

// ---- log in, register, log out ----

loginForm($("#login-form"), session, () => {
  notify("");
  go("account");
}, $("#login-mfa-form"));

onSubmit("#register-form", async (form) => {
  const body = {};
  for (const name of ["username", "email", "phone_number", "first_name", "last_name", "address"]) {
    const v = form[name].value.trim();
    if (v) body[name] = v;
  }
  body[form.secret_kind.value] = form.secret.value;
  await busy(form, async () => {
    try {
      await session.send("POST", "/register", body);
      const [idField, id] = body.username ? ["username", body.username]
        : body.email ? ["email", body.email] : ["phone_number", body.phone_number];
      await session.login({ [idField]: id, [form.secret_kind.value]: form.secret.value });
      form.reset();
      notify("notice.welcome");
      go("account");
    } catch (e) {
      showErrors(form, e, alreadyRegistered, { password: "secret", pin: "secret" });
    }
  });
});

/** 409 ALREADY_REGISTERED names the identifier in its message. */
function alreadyRegistered(e) {
  if (e.code !== "ALREADY_REGISTERED") return "_";
  if (/^Username/.test(e.message)) return "username";
  if (/^Email/.test(e.message)) return "email";
  return "phone_number";
}

$("#logout").addEventListener("click", async () => {
  const button = $("#logout");
  button.disabled = true;
  try {
    await session.logout();
  } catch (e) {
    // The tokens are forgotten either way; a failed revoke leaves them to expire.
  } finally {
    button.disabled = false;
    signedOut();
    notify("notice.logged_out");
    go("login");
  }
});

// ---- account ----

async function loadAccount() {
  const card = $("#view-account .account");
  card.setAttribute("aria-busy", "true");
  try {
    const { body } = await session.call("GET", "/account");
    account = body.result;
    // The API's own greeting ("akses sukses"), as it says it.
    plain($("#account-message"), body.message);
    renderAccount();
    card.classList.add("granted");
  } finally {
    card.setAttribute("aria-busy", "false");
  }
}

/** The account's facts, in the current language. */
function renderAccount() {
  plain($("#account-balance"), rupiah(account.balance));
  plain($("#wallet-balance"), rupiah(account.balance));
  plain($("#account-username"), account.username ?? "—");
  plain($("#account-email"), account.email ?? "—");
  plain($("#account-phone"), account.phone_number ?? "—");
  plain($("#account-name"), [account.first_name, account.last_name].filter(Boolean).join(" ") || "—");
  plain($("#account-address"), account.address ?? "—");
  plain($("#account-id"), account.user_id);
  plain($("#account-created"), day(account.created_date));
  say($("#account-mfa"), account.mfa ? "account.mfa_on" : "account.mfa_off");
  for (const field of document.querySelectorAll(".step-up")) field.hidden = !account.mfa;
  showFactor();
}

// ---- wallet ----

function idempotencyKey() {
  return crypto.randomUUID();
}

function moneyForm(selector, path, fields, describe, codeFields, confirm) {
  onSubmit(selector, async (form) => {
    const result = $(".result", form);
    plain(result, "");
    // With a second factor on, the code from the app (or a recovery code) goes with it.
    const body = withCode(form, fields(form));
    if (confirm) {
      // Asked before the form goes busy: the question is the one live part of it.
      try {
        if (!(await confirm(form, body))) return;
      } catch (e) {
        // The lookup names the recipient `target`.
        showErrors(form, e, codeFields, { target: "target_user" });
        return;
      }
    }
    await busy(form, async () => {
      try {
        const { body: reply } = await session.call("POST", path, body, { "Idempotency-Key": idempotencyKey() });
        say(result, ...describe(reply.result));
        form.reset();
        plain($("#wallet-balance"), rupiah(reply.result.balance_after));
        if (path === "/transfer") {
          followTransfer(reply.result.transfer_id);
          // "Yes" is gone with its panel: the focus goes to what happens next.
          $("#transfer-status").focus();
        }
      } catch (e) {
        if (e.code === "MFA_REQUIRED") $(".step-up", form).hidden = false;
        showErrors(form, e, { ...codeFields, MFA_REQUIRED: "code", INVALID_CODE: "code" },
          { otp: "code", recovery_code: "code" });
      }
    });
  });
}

moneyForm("#topup-form", "/topup", (f) => ({ amount: amount(f.amount.value) }),
  (r) => ["topup.done", { amount: r.amount_top_up, balance: r.balance_after }], {});

moneyForm("#pay-form", "/pay", (f) => ({ amount: amount(f.amount.value), remarks: f.remarks.value }),
  (r) => ["pay.done", { amount: r.amount, balance: r.balance_after }],
  { INSUFFICIENT_BALANCE: "amount" });

moneyForm("#transfer-form", "/transfer",
  (f) => ({ target_user: f.target_user.value.trim(), amount: amount(f.amount.value), remarks: f.remarks.value }),
  (r) => ["transfer.sent", { amount: r.amount, status: r.transfer_status }],
  { INSUFFICIENT_BALANCE: "amount", USER_NOT_FOUND: "target_user", SELF_TRANSFER: "target_user" },
  confirmRecipient);

/** Before a transfer: whom it reaches (`GET /users/lookup`, and their picture when they have
 * one), asked and answered on the page. Resolves true to send, false to change it; throws the
 * lookup's error (unknown recipient). The "Yes" button has the focus: Enter sends. */
async function confirmRecipient(form, body) {
  // A question still open (the form sent again) is answered "No" first.
  cancelConfirm();
  const { body: found } = await session.call("GET", `/users/lookup?${new URLSearchParams({ target: body.target_user })}`);
  const who = found.result.display_name
    ? `${found.result.display_name}${found.result.username ? ` (${found.result.username})` : ""}`
    : (found.result.username ?? body.target_user);
  const panel = $("#transfer-confirm");
  if (typeof body.amount === "number") say($("#transfer-question"), "transfer.question", { amount: body.amount, who });
  else say($("#transfer-question"), "transfer.question_no_amount", { who });
  // The picture of this recipient only: a late answer for an earlier question is dropped.
  const picture = $("#transfer-picture");
  setImage(picture, null);
  picture.dataset.for = found.result.user_id;
  showPicture(picture, found.result.user_id, "picture.of", { name: who },
    () => picture.dataset.for === found.result.user_id && !panel.hidden).catch(() => {});
  panel.hidden = false;
  $("#transfer-yes").focus();
  return new Promise((resolve) => {
    const answer = (yes) => {
      panel.hidden = true;
      $("#transfer-yes").onclick = null;
      $("#transfer-no").onclick = null;
      form.removeEventListener("input", changed);
      cancelConfirm = () => {};
      resolve(yes);
    };
    // Changing the form while the question is open answers "No": the question was about the
    // transfer as it was.
    const changed = () => answer(false);
    form.addEventListener("input", changed);
    cancelConfirm = () => answer(false);
    $("#transfer-yes").onclick = () => answer(true);
    $("#transfer-no").onclick = () => {
      answer(false);
      form.target_user.focus();
    };
  });
}

/** Closes the open question before a transfer, if any, as a "No". */
let cancelConfirm = () => {};

/** Bumped for each transfer followed (and at sign-out): an older follower stops. */
let followed = 0;

/** Shows a transfer's status until the worker settles it. */
async function followTransfer(id) {
  const mine = ++followed;
  const status = $("#transfer-status");
  delete status.dataset.status;
  const started = Date.now();
  let delay = 500;
  while (Date.now() - started < 120000) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (mine !== followed) return;
    delay = Math.min(delay * 1.5, 5000);
    let transfer;
    try {
      ({ body: { result: transfer } } = await session.call("GET", `/transfer/${id}`));
    } catch (e) {
      if (mine === followed) sayWith(status, () => t("transfer.unknown", { message: errorText(e) }));
      return;
    }
    if (mine !== followed) return;
    status.dataset.status = transfer.transfer_status;
    if (transfer.transfer_status === "PENDING") {
      say(status, "transfer.pending", { amount: transfer.amount });
      continue;
    }
    if (transfer.transfer_status === "SUCCESS") {
      say(status, "transfer.settled", { amount: transfer.amount, date: transfer.settled_date });
    } else {
      say(status, "transfer.failed", { amount: transfer.amount });
    }
    loadAccount().catch(() => {});
    return;
  }
  if (mine === followed) say(status, "transfer.still_pending");
}

// ---- the profile picture ----

const MAX_PICTURE_BYTES = 1024 * 1024;
const PICTURE_TYPES = ["image/png", "image/jpeg", "image/webp"];
/** The object URL each <img> shows, released when it shows another. */
const objectUrls = new Map();

/** Shows `blob` in `img` (through an object URL: pictures need the bearer token, so they are
 * fetched, not linked), or hides it when there is none. */
function setImage(img, blob) {
  const old = objectUrls.get(img);
  if (old) URL.revokeObjectURL(old);
  objectUrls.delete(img);
  if (blob) {
    const url = URL.createObjectURL(blob);
    objectUrls.set(img, url);
    img.src = url;
  } else {
    img.removeAttribute("src");
  }
  img.hidden = !blob;
}

/** Shows a user's picture in `img`, described by `altKey`; hidden when they have none. */
async function showPicture(img, userId, altKey, params, wanted = () => true) {
  const blob = await session.blob(`/users/${encodeURIComponent(userId)}/picture`);
  // An answer that came back after the page moved on is dropped.
  if (!wanted()) return false;
  if (altKey) sayAttribute(img, "alt", altKey, params);
  setImage(img, blob);
  return blob !== null;
}

async function loadPicture() {
  if (!account) return;
  const card = $("#picture-card");
  card.setAttribute("aria-busy", "true");
  try {
    const has = await showPicture($("#picture-current"), account.user_id);
    $("#picture-none").hidden = has;
    $("#picture-remove").hidden = !has;
  } finally {
    card.setAttribute("aria-busy", "false");
  }
}

/** What is wrong with a chosen file, as a key of i18n.js (the server checks it again). */
function pictureProblem(file) {
  if (!file) return ["picture.choose"];
  if (!PICTURE_TYPES.includes(file.type)) return ["picture.wrong_type"];
  if (file.size === 0) return ["picture.empty"];
  if (file.size > MAX_PICTURE_BYTES) return ["picture.too_large", { bytes: file.size }];
  return null;
}

function clearPreview() {
  setImage($("#picture-preview"), null);
  $("#picture-preview-wrap").hidden = true;
}

$("#picture-file").addEventListener("change", () => {
  const form = $("#picture-form");
  clearErrors(form);
  plain($(".result", form), "");
  const file = $("#picture-file").files[0];
  if (file) sayWith($("#picture-file-name"), () => file.name);
  else say($("#picture-file-name"), "picture.no_file");
  const problem = file && pictureProblem(file);
  if (!file || problem) {
    clearPreview();
    if (problem) {
      say($(".error[data-for='picture']", form), ...problem);
      $("#picture-file").setAttribute("aria-invalid", "true");
    }
    return;
  }
  setImage($("#picture-preview"), file);
  $("#picture-preview-wrap").hidden = false;
});

onSubmit("#picture-form", async (form) => {
  const result = $(".result", form);
  plain(result, "");
  const file = form.picture.files[0];
  const problem = pictureProblem(file);
  if (problem) {
    say($(".error[data-for='picture']", form), ...problem);
    form.picture.setAttribute("aria-invalid", "true");
    form.picture.focus();
    return;
  }
  await busy(form, async () => {
    try {
      await session.call("PUT", "/account/picture", file);
      form.reset();
      clearPreview();
      say($("#picture-file-name"), "picture.no_file");
      say(result, "picture.uploaded");
      await loadPicture();
    } catch (e) {
      if (e.code === "UNSUPPORTED_MEDIA_TYPE" && /^The bytes are not/.test(e.message)) {
        // The server read the file: it is not the picture its name says.
        say($(".error[data-for='picture']", form), "picture.unreadable");
        form.picture.setAttribute("aria-invalid", "true");
        form.picture.focus();
        return;
      }
      showErrors(form, e, { UNSUPPORTED_MEDIA_TYPE: "picture", PAYLOAD_TOO_LARGE: "picture", VALIDATION_ERROR: "picture" });
    }
  });
});

$("#picture-remove").addEventListener("click", async () => {
  const form = $("#picture-form");
  const button = $("#picture-remove");
  clearErrors(form);
  button.disabled = true;
  try {
    await session.call("DELETE", "/account/picture");
    say($(".result", form), "picture.removed");
    await loadPicture();
    form.picture.focus();
  } catch (e) {
    showErrors(form, e);
  } finally {
    button.disabled = false;
  }
});

// ---- the second factor ----

/** Which part of the two-step sign-in card shows: the set-up form or the turn-off form, unless
 * a set-up is under way (its QR code, then the recovery codes shown once). */
function showFactor() {
  if (!$("#mfa-confirm-form").hidden || !$("#mfa-recovery").hidden) return;
  say($("#mfa-status"), account.mfa ? "mfa.on" : "mfa.off");
  $("#mfa-enrol-form").hidden = account.mfa;
  $("#mfa-disable-form").hidden = !account.mfa;
}

onSubmit("#mfa-enrol-form", async (form) => {
  const [secretName, secret] = secretField(form.secret.value);
  await busy(form, async () => {
    try {
      const { body } = await session.call("POST", "/mfa/totp", { [secretName]: secret });
      form.reset();
      const svg = new DOMParser().parseFromString(body.result.qr_svg, "image/svg+xml").documentElement;
      svg.setAttribute("aria-hidden", "true");
      $("#mfa-qr").replaceChildren(svg);
      $("#mfa-secret").textContent = body.result.secret.replace(/(.{4})/g, "$1 ").trim();
      $("#mfa-uri").textContent = body.result.otpauth_uri;
      form.hidden = true;
      say($("#mfa-status"), "mfa.almost");
      $("#mfa-confirm-form").hidden = false;
      $("#mfa-confirm-code").focus();
    } catch (e) {
      showErrors(form, e, { INVALID_CREDENTIALS: "secret", TOO_MANY_ATTEMPTS: "_", MFA_ALREADY_ENABLED: "_" },
        { password: "secret", pin: "secret" });
    }
  });
});

onSubmit("#mfa-confirm-form", async (form) => {
  await busy(form, async () => {
    try {
      const { body } = await session.call("POST", "/mfa/totp/confirm", { code: form.code.value.trim() });
      form.reset();
      form.hidden = true;
      $("#mfa-qr").replaceChildren();
      const list = $("#mfa-recovery-codes");
      list.replaceChildren(...body.result.recovery_codes.map((code) => {
        const li = document.createElement("li");
        li.textContent = code;
        return li;
      }));
      say($("#mfa-status"), "mfa.enabled");
      say($("#account-mfa"), "account.mfa_on");
      plain($("#mfa-copied"), "");
      $("#mfa-recovery").hidden = false;
      $("#mfa-copy").focus();
    } catch (e) {
      showErrors(form, e, { INVALID_CODE: "code", TOO_MANY_ATTEMPTS: "_" });
    }
  });
});

$("#mfa-copy").addEventListener("click", async () => {
  const codes = [...document.querySelectorAll("#mfa-recovery-codes li")].map((li) => li.textContent);
  try {
    await navigator.clipboard.writeText(codes.join("\n"));
    say($("#mfa-copied"), "mfa.copied");
  } catch (e) {
    // No clipboard (a browser setting): select the list for the user to copy.
    getSelection().selectAllChildren($("#mfa-recovery-codes"));
    say($("#mfa-copied"), "mfa.selected");
  }
});

$("#mfa-saved").addEventListener("click", async () => {
  $("#mfa-recovery-codes").replaceChildren();
  $("#mfa-recovery").hidden = true;
  await loadAccount();
  $("#mfa-disable-secret").focus();
});

onSubmit("#mfa-disable-form", async (form) => {
  const [secretName, secret] = secretField(form.secret.value);
  const [codeName, code] = codeField(form.code.value);
  await busy(form, async () => {
    try {
      await session.call("DELETE", "/mfa/totp", { [secretName]: secret, [codeName]: code });
      form.reset();
      await loadAccount();
      say($("#mfa-status"), "mfa.disabled");
    } catch (e) {
      showErrors(form, e, { INVALID_CREDENTIALS: "secret", INVALID_CODE: "code", MFA_REQUIRED: "code", TOO_MANY_ATTEMPTS: "_" },
        { password: "secret", pin: "secret", otp: "code", recovery_code: "code" });
    }
  });
});

// ---- a forgotten password or PIN ----

let resetFor = null;

onSubmit("#forgot-form", async (form) => {
  const [field, value] = identifierField(form.identifier.value);
  await busy(form, async () => {
    try {
      await session.send("POST", "/password/forgot", { [field]: value });
      resetFor = { [field]: value };
      // The same words whether or not the account exists.
      say($("#reset-sent"), "reset.sent");
      $("#reset-form").hidden = false;
      $("#reset-code").focus();
    } catch (e) {
      showErrors(form, e, { TOO_MANY_ATTEMPTS: "_" },
        { username: "identifier", email: "identifier", phone_number: "identifier" });
    }
  });
});

onSubmit("#reset-form", async (form) => {
  const kind = form.secret_kind.value;
  const secret = form.secret.value;
  await busy(form, async () => {
    try {
      await session.send("POST", "/password/reset", { ...resetFor, code: form.code.value.trim(), [kind]: secret });
      const login = { ...resetFor, [kind]: secret };
      form.reset();
      form.hidden = true;
      $("#forgot-form").reset();
      try {
        await session.login(login);
        notify("notice.reset_done");
        go("account");
      } catch (e) {
        // A second factor: the login page asks for its code.
        notify("notice.reset_login");
        go("login");
      }
    } catch (e) {
      showErrors(form, e, { INVALID_CODE: "code", TOO_MANY_ATTEMPTS: "_" }, { password: "secret", pin: "secret" });
    }
  });
});

// ---- security: logins, sign-in details, closing ----

/** The code of a form's step-up field, if one was typed, added to `body`. */
function withCode(form, body) {
  if (form.code && form.code.value.trim()) {
    const [field, value] = codeField(form.code.value);
    body[field] = value;
  }
  return body;
}

/** Errors of a form that checks the current secret (field `current`) and a step-up code. */
function showSecretErrors(form, e, more = {}, aliases = {}) {
  if (e.code === "MFA_REQUIRED") $(".step-up", form).hidden = false;
  showErrors(form, e, { INVALID_CREDENTIALS: "current", MFA_REQUIRED: "code", INVALID_CODE: "code", TOO_MANY_ATTEMPTS: "_", ...more },
    { current_password: "current", current_pin: "current", password: "current", pin: "current", otp: "code", recovery_code: "code", ...aliases });
}

async function loadSessions() {
  const rows = $("#session-rows");
  const wrap = rows.closest(".table-wrap");
  wrap.setAttribute("aria-busy", "true");
  try {
    const { body } = await session.call("GET", "/sessions");
    sessionsShown = body.result;
    renderSessions();
  } finally {
    wrap.setAttribute("aria-busy", "false");
  }
}

/** The logins last listed. */
let sessionsShown = [];

function renderSessions() {
  $("#session-rows").replaceChildren(...sessionsShown.map((s) => {
      let action;
      if (s.current) {
        action = document.createTextNode(t("sessions.this_one"));
      } else {
        action = document.createElement("button");
        action.type = "button";
        action.className = "secondary";
        action.textContent = t("sessions.end");
        action.setAttribute("aria-label", t("sessions.end_label", { date: s.created_date }));
        action.addEventListener("click", async () => {
          action.disabled = true;
          try {
            await session.call("DELETE", `/sessions/${s.session_id}`);
            say($("#sessions-result"), "sessions.ended", { date: s.created_date });
            await loadSessions();
          } catch (e) {
            sayWith($("#sessions-result"), () => errorText(e));
            action.disabled = false;
          }
        });
      }
      const tr = row([when(s.created_date), when(s.last_used_date), s.user_agent ?? "—",
        t(s.mfa ? "sessions.yes" : "sessions.no"), action]);
      tr.dataset.session = s.session_id;
      tr.dataset.created = s.created_date;
      return tr;
  }));
}

$("#logout-all").addEventListener("click", async () => {
  const button = $("#logout-all");
  button.disabled = true;
  try {
    await session.call("POST", "/logout/all");
    session.forget();
    signedOut();
    notify("notice.logged_out_everywhere");
    go("login");
  } catch (e) {
    sayWith($("#sessions-result"), () => errorText(e));
  } finally {
    button.disabled = false;
  }
});

onSubmit("#identifier-form", async (form) => {
  const result = $(".result", form);
  plain(result, "");
  const field = form.field.value;
  const [secretName, secret] = secretField(form.current.value);
  const body = withCode(form, { [field]: form.value.value.trim() || null, [`current_${secretName}`]: secret });
  await busy(form, async () => {
    try {
      const { body: reply } = await session.call("PUT", `/account/${field}`, body);
      form.reset();
      const now = reply.result[field];
      if (now) say(result, "identifier.saved", { value: now });
      else say(result, "identifier.removed");
      loadAccount().catch(() => {});
    } catch (e) {
      showSecretErrors(form, e, { ALREADY_REGISTERED: "value", CONCURRENT_UPDATE: "_" },
        { username: "value", email: "value", phone_number: "value" });
    }
  });
});

onSubmit("#secret-form", async (form) => {
  const result = $(".result", form);
  plain(result, "");
  const [currentName, current] = secretField(form.current.value);
  const body = withCode(form, { [`current_${currentName}`]: current, [form.secret_kind.value]: form.secret.value });
  await busy(form, async () => {
    try {
      await session.call("PUT", "/account/secret", body);
      form.reset();
      say(result, "secret.changed");
      loadSessions().catch(() => {});
    } catch (e) {
      // Here `password` and `pin` name the new secret.
      showSecretErrors(form, e, { CONCURRENT_UPDATE: "_" }, { password: "secret", pin: "secret" });
    }
  });
});

onSubmit("#close-form", async (form) => {
  const [secretName, secret] = secretField(form.current.value);
  const body = withCode(form, { [secretName]: secret });
  await busy(form, async () => {
    try {
      await session.call("DELETE", "/account", body);
      session.forget();
      signedOut();
      notify("notice.closed");
      go("login");
    } catch (e) {
      showSecretErrors(form, e, { BALANCE_NOT_ZERO: "_", TRANSFER_PENDING: "_", CONCURRENT_UPDATE: "_" });
    }
  });
});

// ---- transactions ----

let txCursor = null;

async function loadTransactions(fresh) {
  const rows = $("#tx-rows");
  const wrap = rows.closest(".table-wrap");
  const more = $("#tx-more");
  if (fresh) txCursor = null;
  wrap.setAttribute("aria-busy", "true");
  more.disabled = true;
  plain($("#tx-error"), "");
  try {
    const query = new URLSearchParams({ limit: "10" });
    if (txCursor) query.set("cursor", txCursor);
    const { body } = await session.call("GET", `/transactions?${query}`);
    txRows = fresh ? body.result : [...txRows, ...body.result];
    renderTransactions();
    txCursor = body.next_cursor;
    more.hidden = !txCursor;
  } catch (e) {
    sayWith($("#tx-error"), () => errorText(e));
  } finally {
    wrap.setAttribute("aria-busy", "false");
    more.disabled = false;
  }
}

/** Every transaction listed so far (all its pages). */
let txRows = [];

function renderTransactions() {
  const rows = $("#tx-rows");
  rows.replaceChildren(...txRows.map((tx) => {
    const kind = tx.transfer_id ? (tx.transaction_type === "CREDIT" ? "tx.transfer_in" : "tx.transfer_out")
      : tx.payment_id ? "tx.payment" : "tx.topup";
    const sign = tx.transaction_type === "CREDIT" ? "+" : "−";
    return row([when(tx.created_date), t(kind), `${sign} ${rupiah(tx.amount)}`, t(`status.${tx.status}`),
      tx.remarks, rupiah(tx.balance_after)]);
  }));
  if (!txRows.length && txCursor === null && account) rows.append(row([t("tx.none"), "", "", "", "", ""]));
}

$("#tx-more").addEventListener("click", () => loadTransactions(false));

// ---- profile ----

async function loadProfile() {
  await loadAccount();
  const form = $("#profile-form");
  form.first_name.value = account.first_name ?? "";
  form.last_name.value = account.last_name ?? "";
  form.address.value = account.address ?? "";
}

onSubmit("#profile-form", async (form) => {
  const result = $(".result", form);
  plain(result, "");
  const body = {};
  for (const name of ["first_name", "last_name", "address"]) {
    const v = form[name].value.trim();
    body[name] = v === "" ? null : v;
  }
  await busy(form, async () => {
    try {
      const { body: reply } = await session.call("PUT", "/profile", body);
      say(result, "profile.saved", { date: reply.result.updated_date });
    } catch (e) {
      showErrors(form, e);
    }
  });
});

// ---- entities ----

let entityCursor = null;
let entityFilter = {};

async function loadEntities(fresh) {
  const rows = $("#entity-rows");
  const wrap = rows.closest(".table-wrap");
  const more = $("#entity-more");
  const filterForm = $("#entity-filter");
  if (fresh) entityCursor = null;
  wrap.setAttribute("aria-busy", "true");
  more.disabled = true;
  try {
    const query = new URLSearchParams({ limit: "10", ...entityFilter });
    if (entityCursor) query.set("cursor", entityCursor);
    const { body } = await session.call("GET", `/entities?${query}`);
    entityRowsShown = fresh ? body.result : [...entityRowsShown, ...body.result];
    entitiesListed = true;
    renderEntities();
    entityCursor = body.next_cursor;
    more.hidden = !entityCursor;
    clearErrors(filterForm);
  } catch (e) {
    showErrors(filterForm, e);
  } finally {
    wrap.setAttribute("aria-busy", "false");
    more.disabled = false;
  }
}

/** Every entity listed so far (all its pages). */
let entityRowsShown = [];
let entitiesListed = false;

function renderEntities() {
  const rows = $("#entity-rows");
  rows.replaceChildren(...entityRowsShown.map(entityRow));
  if (entitiesListed && !entityRowsShown.length) rows.append(row([t("entities.none"), "", "", "", "", ""]));
}

function entityRow(entity) {
  const actions = document.createElement("div");
  actions.className = "buttons";
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "secondary";
  edit.textContent = t("entities.edit");
  edit.setAttribute("aria-label", t("entities.edit_label", { code: entity.code }));
  edit.addEventListener("click", () => editEntity(entity));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.textContent = t("entities.delete");
  remove.setAttribute("aria-label", t("entities.delete_label", { code: entity.code }));
  remove.addEventListener("click", () => deleteEntity(entity, remove));
  actions.append(edit, remove);
  const tr = row([entity.code, entity.type, entity.name ?? "", String(entity.quantity), String(entity.version), actions]);
  tr.dataset.code = entity.code;
  return tr;
}

/** Delete asks once more on the same button: a second press within 5 s deletes. */
async function deleteEntity(entity, button) {
  if (button.dataset.armed !== "yes") {
    button.dataset.armed = "yes";
    button.textContent = t("entities.confirm_delete");
    button.setAttribute("aria-label", t("entities.confirm_delete_label", { code: entity.code }));
    setTimeout(() => {
      button.dataset.armed = "";
      button.textContent = t("entities.delete");
      button.setAttribute("aria-label", t("entities.delete_label", { code: entity.code }));
    }, 5000);
    return;
  }
  button.disabled = true;
  button.textContent = t("entities.deleting");
  const result = $("#entity-form .result");
  try {
    await session.call("DELETE", `/entities/${entity.entity_id}`);
    say(result, "entities.deleted", { code: entity.code });
    if ($("#entity-form").entity_id.value === entity.entity_id) resetEntityForm();
    await loadEntities(true);
  } catch (e) {
    sayWith(result, () => errorText(e));
    button.disabled = false;
    button.textContent = t("entities.delete");
  }
}

function editEntity(entity) {
  const form = $("#entity-form");
  clearErrors(form);
  form.entity_id.value = entity.entity_id;
  form.version.value = entity.version;
  form.code.value = entity.code;
  form.type.value = entity.type;
  form.quantity.value = entity.quantity;
  form.name.value = entity.name ?? "";
  form.description.value = entity.description ?? "";
  say($("#entity-form-title"), "entities.edit_title", { code: entity.code, version: entity.version });
  say($("#entity-save"), "entities.save_changes");
  $("#entity-cancel").hidden = false;
  $("#entity-reload").hidden = true;
  plain($(".result", form), "");
  form.code.focus();
}

function resetEntityForm() {
  const form = $("#entity-form");
  form.reset();
  form.entity_id.value = "";
  form.version.value = "";
  clearErrors(form);
  say($("#entity-form-title"), "entities.new_title");
  say($("#entity-save"), "entities.create");
  $("#entity-cancel").hidden = true;
  $("#entity-reload").hidden = true;
}

$("#entity-cancel").addEventListener("click", resetEntityForm);

$("#entity-reload").addEventListener("click", async () => {
  const form = $("#entity-form");
  try {
    const { body } = await session.call("GET", `/entities/${form.entity_id.value}`);
    editEntity(body.result);
    say($(".result", form), "entities.loaded", { version: body.result.version });
  } catch (e) {
    sayWith($(".result", form), () => errorText(e));
  }
});

$("#entity-filter").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  entityFilter = {};
  if (form.type.value.trim()) entityFilter.type = form.type.value.trim();
  if (form.code.value.trim()) entityFilter.code = form.code.value.trim();
  loadEntities(true);
});

$("#entity-more").addEventListener("click", () => loadEntities(false));

onSubmit("#entity-form", async (form) => {
  const result = $(".result", form);
  plain(result, "");
  const id = form.entity_id.value;
  const body = {
    code: form.code.value.trim(),
    type: form.type.value.trim(),
    quantity: amount(form.quantity.value),
    name: form.name.value.trim() || null,
    description: form.description.value.trim() || null,
  };
  await busy(form, async () => {
    try {
      if (id) {
        const { body: reply } = await session.call("PUT", `/entities/${id}`, body, { "If-Match": form.version.value });
        resetEntityForm();
        say(result, "entities.saved", { code: reply.result.code, version: reply.result.version });
      } else {
        const { body: reply } = await session.call("POST", "/entities", body);
        resetEntityForm();
        say(result, "entities.created", { code: reply.result.code });
      }
      await loadEntities(true);
    } catch (e) {
      if (e.code === "VERSION_CONFLICT") $("#entity-reload").hidden = false;
      showErrors(form, e, (err) => (err.code === "VERSION_CONFLICT" ? "_" : err.status === 409 ? "code" : "_"));
    }
  });
});

// ---- start ----

window.addEventListener("hashchange", () => show(location.hash.replace(/^#\//, "")));
wireLanguageSwitch();

(async () => {
  if (session.hasLogin()) {
    try {
      await session.resume();
    } catch (e) {
      // resume's failure already sent the tab to the login view.
    }
  }
  show(location.hash.replace(/^#\//, ""));
})();
