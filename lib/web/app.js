// The dompet web app: register, log in, the account with its cat, top up, pay, transfer (with
// the transfer's live status), transactions, profile and entities. Views are chosen by the URL's
// hash (#/login, #/account, ...); every request goes through api.js.

import {
  createSession, loginForm, showErrors, clearErrors, busy, rupiah, amount, row, codeField, secretField,
  identifierField,
} from "./api.js";

const $ = (selector, root = document) => root.querySelector(selector);
const session = createSession("dompet.app.refresh", (message) => {
  notify(message);
  go("login");
});
const PUBLIC_VIEWS = ["login", "register", "forgot"];
let account = null;

function notify(message) {
  $("#notice").textContent = message || "";
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
  document.title = `${$(`#view-${view} h1`).textContent} · dompet`;
  const load = LOADERS[view];
  if (load) {
    try {
      await load();
    } catch (e) {
      if (e.status !== 401) notify(e.message);
    }
  }
}

const LOADERS = {
  account: loadAccount,
  wallet: loadAccount,
  transactions: () => loadTransactions(true),
  profile: loadProfile,
  entities: () => loadEntities(true),
  security: () => Promise.all([loadAccount(), loadSessions()]),
};

// ---- log in, register, log out ----

loginForm($("#login-form"), session, () => {
  notify("");
  go("account");
}, $("#login-mfa-form"));

$("#register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
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
      notify("Welcome to dompet: your account is ready.");
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
    account = null;
    notify("You have logged out.");
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
    $("#account-message").textContent = body.message;
    $("#account-balance").textContent = rupiah(account.balance);
    $("#wallet-balance").textContent = rupiah(account.balance);
    $("#account-username").textContent = account.username ?? "—";
    $("#account-email").textContent = account.email ?? "—";
    $("#account-phone").textContent = account.phone_number ?? "—";
    $("#account-name").textContent = [account.first_name, account.last_name].filter(Boolean).join(" ") || "—";
    $("#account-address").textContent = account.address ?? "—";
    $("#account-id").textContent = account.user_id;
    $("#account-created").textContent = account.created_date;
    $("#account-mfa").textContent = account.mfa ? "On" : "Off";
    for (const field of document.querySelectorAll(".step-up")) field.hidden = !account.mfa;
    showFactor();
    card.classList.add("granted");
  } finally {
    card.setAttribute("aria-busy", "false");
  }
}

// ---- wallet ----

function idempotencyKey() {
  return crypto.randomUUID();
}

function moneyForm(selector, path, fields, describe, codeFields, confirm) {
  $(selector).addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    const result = $(".result", form);
    result.textContent = "";
    const body = fields(form);
    // With a second factor on, the code from the app (or a recovery code) goes with it.
    if (form.code && form.code.value.trim()) {
      const [field, value] = codeField(form.code.value);
      body[field] = value;
    }
    if (confirm) {
      // Asked before the form goes busy: the question is the one live part of it.
      try {
        if (!(await confirm(form, body))) return;
      } catch (e) {
        showErrors(form, e, codeFields);
        return;
      }
    }
    await busy(form, async () => {
      try {
        const { body: reply } = await session.call("POST", path, body, { "Idempotency-Key": idempotencyKey() });
        result.textContent = describe(reply.result);
        form.reset();
        $("#wallet-balance").textContent = rupiah(reply.result.balance_after);
        if (path === "/transfer") followTransfer(reply.result.transfer_id);
      } catch (e) {
        if (e.code === "MFA_REQUIRED") $(".step-up", form).hidden = false;
        showErrors(form, e, { ...codeFields, MFA_REQUIRED: "code", INVALID_CODE: "code" },
          { otp: "code", recovery_code: "code" });
      }
    });
  });
}

moneyForm("#topup-form", "/topup", (f) => ({ amount: amount(f.amount.value) }),
  (r) => `Topped up ${rupiah(r.amount_top_up)}. Balance ${rupiah(r.balance_after)}.`, {});

moneyForm("#pay-form", "/pay", (f) => ({ amount: amount(f.amount.value), remarks: f.remarks.value }),
  (r) => `Paid ${rupiah(r.amount)}. Balance ${rupiah(r.balance_after)}.`,
  { INSUFFICIENT_BALANCE: "amount" });

moneyForm("#transfer-form", "/transfer",
  (f) => ({ target_user: f.target_user.value.trim(), amount: amount(f.amount.value), remarks: f.remarks.value }),
  (r) => `Sent ${rupiah(r.amount)}: ${r.transfer_status}.`,
  { INSUFFICIENT_BALANCE: "amount", USER_NOT_FOUND: "target_user", SELF_TRANSFER: "target_user" },
  confirmRecipient);

/** Before a transfer: whom it reaches (`GET /users/lookup`), asked and answered on the page.
 * Resolves true to send, false to change it; throws the lookup's error (unknown recipient). */
async function confirmRecipient(form, body) {
  const { body: found } = await session.call("GET", `/users/lookup?${new URLSearchParams({ target: body.target_user })}`);
  const who = found.result.display_name
    ? `${found.result.display_name}${found.result.username ? ` (${found.result.username})` : ""}`
    : (found.result.username ?? body.target_user);
  const panel = $("#transfer-confirm");
  $("#transfer-question").textContent = typeof body.amount === "number"
    ? `Send ${rupiah(body.amount)} to ${who}?` : `Send to ${who}?`;
  panel.hidden = false;
  $("#transfer-yes").focus();
  return new Promise((resolve) => {
    const answer = (yes) => () => {
      panel.hidden = true;
      $("#transfer-yes").onclick = null;
      $("#transfer-no").onclick = null;
      resolve(yes);
    };
    $("#transfer-yes").onclick = answer(true);
    $("#transfer-no").onclick = answer(false);
  });
}

/** Shows a transfer's status until the worker settles it. */
async function followTransfer(id) {
  const status = $("#transfer-status");
  const started = Date.now();
  let delay = 500;
  while (Date.now() - started < 120000) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 1.5, 5000);
    let transfer;
    try {
      ({ body: { result: transfer } } = await session.call("GET", `/transfer/${id}`));
    } catch (e) {
      status.textContent = `Transfer status unknown: ${e.message}`;
      return;
    }
    status.dataset.status = transfer.transfer_status;
    if (transfer.transfer_status === "PENDING") {
      status.textContent = `Sent ${rupiah(transfer.amount)}: PENDING, waiting to be credited…`;
      continue;
    }
    status.textContent = transfer.transfer_status === "SUCCESS"
      ? `Transfer of ${rupiah(transfer.amount)} settled: SUCCESS on ${transfer.settled_date}.`
      : `Transfer of ${rupiah(transfer.amount)} FAILED; the money is back in your balance.`;
    loadAccount().catch(() => {});
    return;
  }
  status.textContent = "The transfer is still PENDING; its status is under Transactions.";
}

// ---- the second factor ----

/** Which part of the two-step sign-in card shows: the set-up form or the turn-off form, unless
 * a set-up is under way (its QR code, then the recovery codes shown once). */
function showFactor() {
  if (!$("#mfa-confirm-form").hidden || !$("#mfa-recovery").hidden) return;
  $("#mfa-status").textContent = account.mfa
    ? "On: logging in and moving money ask for a code from your authenticator app."
    : "Off: your password or PIN alone logs in.";
  $("#mfa-enrol-form").hidden = account.mfa;
  $("#mfa-disable-form").hidden = !account.mfa;
}

$("#mfa-enrol-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
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
      $("#mfa-status").textContent = "Almost there: add the key to your app, then enter the code it shows.";
      $("#mfa-confirm-form").hidden = false;
      $("#mfa-confirm-code").focus();
    } catch (e) {
      showErrors(form, e, { INVALID_CREDENTIALS: "secret", TOO_MANY_ATTEMPTS: "_", MFA_ALREADY_ENABLED: "_" },
        { password: "secret", pin: "secret" });
    }
  });
});

$("#mfa-confirm-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
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
      $("#mfa-status").textContent = "Two-step sign-in is on. Your other logins have ended.";
      $("#account-mfa").textContent = "On";
      $("#mfa-copied").textContent = "";
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
    $("#mfa-copied").textContent = "Copied. Keep them somewhere safe, away from your phone.";
  } catch (e) {
    // No clipboard (a browser setting): select the list for the user to copy.
    getSelection().selectAllChildren($("#mfa-recovery-codes"));
    $("#mfa-copied").textContent = "Selected: copy them with your keyboard or menu.";
  }
});

$("#mfa-saved").addEventListener("click", async () => {
  $("#mfa-recovery-codes").replaceChildren();
  $("#mfa-recovery").hidden = true;
  await loadAccount();
  $("#mfa-disable-secret").focus();
});

$("#mfa-disable-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const [secretName, secret] = secretField(form.secret.value);
  const [codeName, code] = codeField(form.code.value);
  await busy(form, async () => {
    try {
      await session.call("DELETE", "/mfa/totp", { [secretName]: secret, [codeName]: code });
      form.reset();
      await loadAccount();
      $("#mfa-status").textContent = "Two-step sign-in is off. Your other logins have ended.";
    } catch (e) {
      showErrors(form, e, { INVALID_CREDENTIALS: "secret", INVALID_CODE: "code", MFA_REQUIRED: "code", TOO_MANY_ATTEMPTS: "_" },
        { password: "secret", pin: "secret", otp: "code", recovery_code: "code" });
    }
  });
});

// ---- a forgotten password or PIN ----

let resetFor = null;

$("#forgot-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const [field, value] = identifierField(form.identifier.value);
  await busy(form, async () => {
    try {
      await session.send("POST", "/password/forgot", { [field]: value });
      resetFor = { [field]: value };
      // The same words whether or not the account exists.
      $("#reset-sent").textContent = "If an account has that username, email or phone number, a code is on its way to its email or phone. It works once, for 15 minutes.";
      $("#reset-form").hidden = false;
      $("#reset-code").focus();
    } catch (e) {
      showErrors(form, e, { TOO_MANY_ATTEMPTS: "_" },
        { username: "identifier", email: "identifier", phone_number: "identifier" });
    }
  });
});

$("#reset-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
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
        notify("Your new secret is set and every other login has ended.");
        go("account");
      } catch (e) {
        // A second factor: the login page asks for its code.
        notify("Your new secret is set: log in with it.");
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
    rows.replaceChildren(...body.result.map((s) => {
      let action;
      if (s.current) {
        action = document.createTextNode("This one");
      } else {
        action = document.createElement("button");
        action.type = "button";
        action.className = "secondary";
        action.textContent = "End";
        action.setAttribute("aria-label", `End the login of ${s.created_date}`);
        action.addEventListener("click", async () => {
          action.disabled = true;
          try {
            await session.call("DELETE", `/sessions/${s.session_id}`);
            $("#sessions-result").textContent = `Ended the login of ${s.created_date}.`;
            await loadSessions();
          } catch (e) {
            $("#sessions-result").textContent = e.message;
            action.disabled = false;
          }
        });
      }
      const tr = row([s.created_date, s.last_used_date, s.user_agent ?? "—", s.mfa ? "Yes" : "No", action]);
      tr.dataset.session = s.session_id;
      return tr;
    }));
  } finally {
    wrap.setAttribute("aria-busy", "false");
  }
}

$("#logout-all").addEventListener("click", async () => {
  const button = $("#logout-all");
  button.disabled = true;
  try {
    await session.call("POST", "/logout/all");
    session.forget();
    account = null;
    notify("Every login of yours has ended, this one too.");
    go("login");
  } catch (e) {
    $("#sessions-result").textContent = e.message;
  } finally {
    button.disabled = false;
  }
});

$("#identifier-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const result = $(".result", form);
  result.textContent = "";
  const field = form.field.value;
  const [secretName, secret] = secretField(form.current.value);
  const body = withCode(form, { [field]: form.value.value.trim() || null, [`current_${secretName}`]: secret });
  await busy(form, async () => {
    try {
      const { body: reply } = await session.call("PUT", `/account/${field}`, body);
      form.reset();
      const now = reply.result[field];
      result.textContent = now ? `Saved: ${now}.` : "Removed.";
      loadAccount().catch(() => {});
    } catch (e) {
      showSecretErrors(form, e, { ALREADY_REGISTERED: "value", CONCURRENT_UPDATE: "_" },
        { username: "value", email: "value", phone_number: "value" });
    }
  });
});

$("#secret-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const result = $(".result", form);
  result.textContent = "";
  const [currentName, current] = secretField(form.current.value);
  const body = withCode(form, { [`current_${currentName}`]: current, [form.secret_kind.value]: form.secret.value });
  await busy(form, async () => {
    try {
      await session.call("PUT", "/account/secret", body);
      form.reset();
      result.textContent = "Changed. Every other login of yours has ended.";
      loadSessions().catch(() => {});
    } catch (e) {
      // Here `password` and `pin` name the new secret.
      showSecretErrors(form, e, { CONCURRENT_UPDATE: "_" }, { password: "secret", pin: "secret" });
    }
  });
});

$("#close-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const [secretName, secret] = secretField(form.current.value);
  const body = withCode(form, { [secretName]: secret });
  await busy(form, async () => {
    try {
      await session.call("DELETE", "/account", body);
      session.forget();
      account = null;
      notify("Your account is closed. Thank you for using dompet.");
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
  $("#tx-error").textContent = "";
  try {
    const query = new URLSearchParams({ limit: "10" });
    if (txCursor) query.set("cursor", txCursor);
    const { body } = await session.call("GET", `/transactions?${query}`);
    if (fresh) rows.replaceChildren();
    for (const t of body.result) {
      const kind = t.transfer_id ? (t.transaction_type === "CREDIT" ? "Transfer in" : "Transfer out")
        : t.payment_id ? "Payment" : "Top up";
      const sign = t.transaction_type === "CREDIT" ? "+" : "−";
      rows.append(row([t.created_date, kind, `${sign} ${rupiah(t.amount)}`, t.status, t.remarks, rupiah(t.balance_after)]));
    }
    if (fresh && !body.result.length) rows.append(row(["No transactions yet.", "", "", "", "", ""]));
    txCursor = body.next_cursor;
    more.hidden = !txCursor;
  } catch (e) {
    $("#tx-error").textContent = e.message;
  } finally {
    wrap.setAttribute("aria-busy", "false");
    more.disabled = false;
  }
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

$("#profile-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const result = $(".result", form);
  result.textContent = "";
  const body = {};
  for (const name of ["first_name", "last_name", "address"]) {
    const v = form[name].value.trim();
    body[name] = v === "" ? null : v;
  }
  await busy(form, async () => {
    try {
      const { body: reply } = await session.call("PUT", "/profile", body);
      result.textContent = `Saved on ${reply.result.updated_date}.`;
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
    if (fresh) rows.replaceChildren();
    for (const e of body.result) rows.append(entityRow(e));
    if (fresh && !body.result.length) rows.append(row(["No entities.", "", "", "", "", ""]));
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

function entityRow(entity) {
  const actions = document.createElement("div");
  actions.className = "buttons";
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "secondary";
  edit.textContent = "Edit";
  edit.setAttribute("aria-label", `Edit ${entity.code}`);
  edit.addEventListener("click", () => editEntity(entity));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "danger";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${entity.code}`);
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
    button.textContent = "Confirm delete";
    setTimeout(() => {
      button.dataset.armed = "";
      button.textContent = "Delete";
    }, 5000);
    return;
  }
  button.disabled = true;
  button.textContent = "Deleting…";
  const result = $("#entity-form .result");
  try {
    await session.call("DELETE", `/entities/${entity.entity_id}`);
    result.textContent = `Deleted ${entity.code}.`;
    if ($("#entity-form").entity_id.value === entity.entity_id) resetEntityForm();
    await loadEntities(true);
  } catch (e) {
    result.textContent = e.message;
    button.disabled = false;
    button.textContent = "Delete";
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
  $("#entity-form-title").textContent = `Edit ${entity.code} (version ${entity.version})`;
  $("#entity-save").textContent = "Save changes";
  $("#entity-cancel").hidden = false;
  $("#entity-reload").hidden = true;
  $(".result", form).textContent = "";
  form.code.focus();
}

function resetEntityForm() {
  const form = $("#entity-form");
  form.reset();
  form.entity_id.value = "";
  form.version.value = "";
  clearErrors(form);
  $("#entity-form-title").textContent = "New entity";
  $("#entity-save").textContent = "Create";
  $("#entity-cancel").hidden = true;
  $("#entity-reload").hidden = true;
}

$("#entity-cancel").addEventListener("click", resetEntityForm);

$("#entity-reload").addEventListener("click", async () => {
  const form = $("#entity-form");
  try {
    const { body } = await session.call("GET", `/entities/${form.entity_id.value}`);
    editEntity(body.result);
    $(".result", form).textContent = `Loaded version ${body.result.version}; make your change again.`;
  } catch (e) {
    $(".result", form).textContent = e.message;
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

$("#entity-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const result = $(".result", form);
  result.textContent = "";
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
        result.textContent = `Saved ${reply.result.code}: version ${reply.result.version}.`;
      } else {
        const { body: reply } = await session.call("POST", "/entities", body);
        result.textContent = `Created ${reply.result.code}.`;
      }
      const message = result.textContent;
      resetEntityForm();
      result.textContent = message;
      await loadEntities(true);
    } catch (e) {
      if (e.code === "VERSION_CONFLICT") $("#entity-reload").hidden = false;
      showErrors(form, e, (err) => (err.code === "VERSION_CONFLICT" ? "_" : err.status === 409 ? "code" : "_"));
    }
  });
});

// ---- start ----

window.addEventListener("hashchange", () => show(location.hash.replace(/^#\//, "")));

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
