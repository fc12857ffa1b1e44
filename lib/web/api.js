// The dompet API client shared by the web app and the dashboard.
//
// Tokens as a careful single-page app keeps them: the access token only in memory; the refresh
// token in sessionStorage (one per tab, so two tabs are two logins and never race on one
// rotating refresh token); a refresh shortly before the access token expires, and once after a
// 401; one refresh at a time (refresh tokens are single-use: two concurrent refreshes with the
// same token would revoke the whole login).

// Errors are shown in the app's words (i18n.js), next to the field they concern.

import { t, say, sayWith, plain, errorText, fieldText } from "./i18n.js";

export { rupiah } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super((body && body.message) || `Request failed (${status})`);
    this.status = status;
    this.code = (body && body.code) || "NETWORK";
    this.errors = (body && body.errors) || {};
    /** With MFA_REQUIRED at login: the token that finishes it with a code. */
    this.mfaToken = (body && body.mfa_token) || null;
    /** With 429: the seconds to wait (`Retry-After`). */
    this.retryAfter = retryAfter;
    if (!body || !body.code) this.code = status === 0 ? "NETWORK" : "HTTP";
  }
}

/** A code typed as the second factor: six digits from the app, else a recovery code. */
export function codeField(value) {
  const v = value.trim();
  // Apps show "123 456"; recovery codes have letters.
  const digits = v.replace(/[\s-]/g, "");
  return /^[0-9]{6}$/.test(digits) ? ["otp", digits] : ["recovery_code", v];
}

/** Splits an identifier typed into one box into the field the API expects. */
export function identifierField(value) {
  const v = value.trim();
  if (v.includes("@")) return ["email", v];
  if (/^\+?[0-9]+$/.test(v)) return ["phone_number", v];
  return ["username", v];
}

/** A six-digit secret can only be a PIN (passwords are at least 8 characters). */
export function secretField(value) {
  return /^[0-9]{6}$/.test(value) ? ["pin", value] : ["password", value];
}

export function createSession(storageKey, onSignedOut) {
  let access = null;
  let timer = null;
  let refreshing = null;

  function keep(tokens) {
    access = tokens.access_token;
    sessionStorage.setItem(storageKey, tokens.refresh_token);
    clearTimeout(timer);
    // A minute before expiry (never sooner than in 5 s).
    const wait = Math.max(5, tokens.expires_in - 60) * 1000;
    timer = setTimeout(() => refresh().catch(() => {}), wait);
  }

  function forget() {
    access = null;
    clearTimeout(timer);
    sessionStorage.removeItem(storageKey);
  }

  /** A request: `body` is sent as JSON, or as itself when a Blob (a picture, with its type);
   * with `bytes` the answer is the body's Blob rather than its JSON. */
  async function send(method, path, body, headers, bytes = false) {
    const init = { method, headers: { Accept: bytes ? "*/*" : "application/json", ...headers } };
    if (body instanceof Blob) {
      init.headers["Content-Type"] = body.type;
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, null);
    }
    if (bytes && response.ok) return { blob: await response.blob(), headers: response.headers, status: response.status };
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    if (!response.ok) throw new ApiError(response.status, json, Number(response.headers.get("Retry-After")) || null);
    return { body: json, headers: response.headers, status: response.status };
  }

  async function doRefresh() {
    const token = sessionStorage.getItem(storageKey);
    if (!token) throw new ApiError(401, { code: "UNAUTHENTICATED", message: "Please log in" });
    try {
      const { body } = await send("POST", "/token/refresh", { refresh_token: token });
      keep(body.result);
    } catch (e) {
      if (e.status === 401 || e.status === 400) {
        forget();
        onSignedOut("session.ended");
      }
      throw e;
    }
  }

  function refresh() {
    if (!refreshing) refreshing = doRefresh().finally(() => { refreshing = null; });
    return refreshing;
  }

  /** An authenticated call: refreshes first when no access token is held, and once on a 401. */
  async function call(method, path, body, headers = {}, bytes = false) {
    if (!access) await refresh();
    try {
      return await send(method, path, body, { ...headers, Authorization: `Bearer ${access}` }, bytes);
    } catch (e) {
      if (e.status !== 401) throw e;
      await refresh();
      return send(method, path, body, { ...headers, Authorization: `Bearer ${access}` }, bytes);
    }
  }

  return {
    call,
    send,
    /** An authenticated GET of bytes (a picture): its Blob, or null when there is none (404). */
    async blob(path) {
      try {
        return (await call("GET", path, undefined, {}, true)).blob;
      } catch (e) {
        if (e.status === 404) return null;
        throw e;
      }
    },
    /** Whether this tab holds a login (it may still need a refresh). */
    hasLogin: () => access !== null || sessionStorage.getItem(storageKey) !== null,
    /** Logs in; with a second factor this throws MFA_REQUIRED carrying `mfaToken`. */
    async login(fields) {
      const { body } = await send("POST", "/login", fields);
      keep(body.result);
    },
    /** The second step of a login: the `mfa_token` and a code (or a recovery code). */
    async loginWithCode(mfaToken, code) {
      const [field, value] = codeField(code);
      const { body } = await send("POST", "/login/mfa", { mfa_token: mfaToken, [field]: value });
      keep(body.result);
    },
    /** Resumes this tab's login after a reload. */
    resume: () => refresh(),
    /** Forgets this tab's tokens (after the server ended the login: logout everywhere, closing). */
    forget,
    async logout() {
      try {
        if (access || sessionStorage.getItem(storageKey)) await call("POST", "/logout");
      } finally {
        forget();
      }
    },
  };
}

/** Wires a login form (fields `identifier` and `secret`) and its second step (`codeForm`, a
 * field `code`: shown when the account asks for a second factor) to `session`; `then` runs
 * after a successful login. Errors appear next to the field they concern. The code field has
 * the focus when the second step shows, so the keyboard alone finishes the login. */
export function loginForm(form, session, then, codeForm) {
  let mfaToken = null;
  const restart = (messageKey) => {
    mfaToken = null;
    codeForm.reset();
    clearErrors(codeForm);
    codeForm.hidden = true;
    form.hidden = false;
    if (messageKey) say(form.querySelector(".error[data-for='_']"), messageKey);
    form.identifier.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const [idField, id] = identifierField(form.identifier.value);
    const [secretName, secret] = secretField(form.secret.value);
    await busy(form, async () => {
      try {
        await session.login({ [idField]: id, [secretName]: secret });
        form.reset();
        then();
      } catch (e) {
        if (e.code === "MFA_REQUIRED" && e.mfaToken) {
          mfaToken = e.mfaToken;
          form.reset();
          form.hidden = true;
          codeForm.hidden = false;
          codeForm.code.focus();
          return;
        }
        showErrors(form, e, { INVALID_CREDENTIALS: "secret", TOO_MANY_ATTEMPTS: "_" },
          { username: "identifier", email: "identifier", phone_number: "identifier", password: "secret", pin: "secret" });
      }
    });
  });
  codeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(codeForm);
    await busy(codeForm, async () => {
      try {
        await session.loginWithCode(mfaToken, codeForm.code.value);
        restart(null);
        then();
      } catch (e) {
        // The token is used up, expired or no longer good: the login starts again.
        if (e.code === "UNAUTHENTICATED") restart("login.restart");
        else {
          showErrors(codeForm, e, { INVALID_CODE: "code", TOO_MANY_ATTEMPTS: "_" },
            { otp: "code", recovery_code: "code" });
          // A code is tried once: the field is emptied for the next (the focus stays in it).
          codeForm.code.value = "";
        }
      }
    });
  });
  codeForm.querySelector("[data-action='restart']").addEventListener("click", () => restart(null));
}

/** Shows an API error in the app's words next to the field it concerns (or in the form's
 * general slot): `errors` of a 400 field by field, otherwise the code's message where
 * `fieldOfCode` (a map or a function of the error) places it. */
export function showErrors(form, error, fieldOfCode = {}, aliases = {}) {
  clearErrors(form);
  const slot = (name) => form.querySelector(`.error[data-for="${CSS.escape(name)}"]`) || form.querySelector('.error[data-for="_"]');
  const fields = Object.entries(error.errors || {});
  if (fields.length) {
    const bySlot = new Map();
    for (const [name, messages] of fields) {
      const field = aliases[name] || name;
      const target = slot(field);
      if (!bySlot.has(target)) bySlot.set(target, []);
      bySlot.get(target).push(...messages.map((m) => [name, m]));
      markInvalid(form, field);
    }
    for (const [target, messages] of bySlot) {
      sayWith(target, () => messages.map(([name, m]) => fieldText(name, m)).join(" "));
    }
  } else {
    const field = typeof fieldOfCode === "function" ? fieldOfCode(error) : fieldOfCode[error.code];
    sayWith(slot(field || "_"), () => errorText(error));
    if (field) markInvalid(form, field);
  }
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

export function clearErrors(form) {
  form.querySelectorAll(".error").forEach((e) => plain(e, ""));
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

function markInvalid(form, field) {
  const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
  if (input) input.setAttribute("aria-invalid", "true");
}

/** Runs `work` with the form's submit button disabled and marked busy. */
export async function busy(form, work) {
  const button = form.querySelector('button[type="submit"]');
  const text = button.textContent;
  button.disabled = true;
  form.setAttribute("aria-busy", "true");
  const working = t("working");
  button.textContent = working;
  try {
    return await work();
  } finally {
    button.disabled = false;
    form.removeAttribute("aria-busy");
    // Unless the work relabelled the button (an edit form back to "Create").
    if (button.textContent === working) button.textContent = text;
  }
}

/** A whole number typed plainly or with thousands separators (1.000.000); anything else is
 * sent as typed, for the API to explain what is wrong with it. */
export function amount(value) {
  const v = value.trim();
  if (/^[0-9]+$/.test(v)) return Number(v);
  if (/^[0-9]{1,3}([., ][0-9]{3})+$/.test(v)) return Number(v.replace(/[., ]/g, ""));
  return v;
}

/** Table cells from plain text (never HTML). */
export function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.append(c);
    else td.textContent = c ?? "";
    tr.append(td);
  }
  return tr;
}
