// The web app's two languages, Bahasa Indonesia and English, without a framework: two
// dictionaries (the pages' words in text.js, the scripts' here), the language chosen from the
// browser's preferences and kept for the tab once switched, and amounts and dates written the
// way the chosen language writes them, times in the browser's own time zone and labelled.
//
// The API's messages stay English: the app shows its own words for each error code, and for
// each kind of field message (`errors`), falling back to the API's words only for one it does
// not know.
//
// Text put on the page with `say` is remembered (and marked `data-said`), so switching the
// language rewrites it where it stands (a result, an error, a question), as it rewrites the
// pages' own words.

import { PAGE_TEXT } from "./text.js";

const STORAGE_KEY = "dompet.lang";
/** Each language's name, in that language (the switch offers the other one). */
export const LANGUAGES = { id: "Bahasa Indonesia", en: "English" };
const LOCALES = { id: "id-ID", en: "en-GB" };

function preferred() {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (stored in LANGUAGES) return stored;
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const base = String(tag).toLowerCase().split("-")[0];
    // "in" is the old ISO code some systems still report for Indonesian.
    if (base === "id" || base === "in") return "id";
    if (base === "en") return "en";
  }
  return "en";
}

let current = preferred();
const listeners = [];
/** Elements whose text `say` wrote, with how to write it again. */
const said = new Map();
/** Attributes `sayAttribute` set: element → attribute → how to write it. */
const saidAttributes = new Map();

export function language() {
  return current;
}

/** Switches the language for this tab and rewrites everything written. */
export function setLanguage(lang) {
  if (!(lang in LANGUAGES)) return;
  current = lang;
  sessionStorage.setItem(STORAGE_KEY, lang);
  translatePage();
  for (const fn of listeners) fn(lang);
}

/** Runs `fn` after every switch (views reload what they show). */
export function onLanguageChange(fn) {
  listeners.push(fn);
}

/** The string `key` in the current language: a function of `params`, or a plain string. */
export function t(key, params = {}) {
  const entry = MESSAGES[current][key] ?? PAGE_TEXT[current][key] ?? MESSAGES.en[key] ?? PAGE_TEXT.en[key];
  if (entry === undefined) return key;
  return typeof entry === "function" ? entry(params) : entry;
}

/** Writes `key` (with `params`) as the text of `element`, again after each switch. */
export function say(element, key, params) {
  sayWith(element, () => t(key, params));
}

/** Writes what `compute` returns (in the current language) as the text of `element`, again
 * after each switch. */
export function sayWith(element, compute) {
  if (!element) return;
  said.set(element, compute);
  element.dataset.said = "";
  element.textContent = compute();
}

/** Sets `attribute` of `element` (an image's alt) to `key`, again after each switch. */
export function sayAttribute(element, attribute, key, params) {
  if (!element) return;
  const write = () => element.setAttribute(attribute, t(key, params));
  if (!saidAttributes.has(element)) saidAttributes.set(element, new Map());
  saidAttributes.get(element).set(attribute, write);
  write();
}

/** Writes text that needs no translating (a name, the API's own words) or clears it. */
export function plain(element, text) {
  if (!element) return;
  said.delete(element);
  delete element.dataset.said;
  element.textContent = text ?? "";
}

/** Writes the pages' words (`data-i18n`, `data-i18n-attr`), `lang`, the switch and what `say` wrote. */
export function translatePage() {
  document.documentElement.lang = current;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of document.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(/\s+/).filter(Boolean)) {
      const [attribute, key] = pair.split(":");
      element.setAttribute(attribute, t(key));
    }
  }
  for (const [element, write] of said) {
    if (element.isConnected) element.textContent = write();
    else said.delete(element);
  }
  for (const [element, writes] of saidAttributes) {
    if (!element.isConnected) saidAttributes.delete(element);
    else for (const write of writes.values()) write();
  }
  const other = current === "id" ? "en" : "id";
  const button = document.getElementById("lang-switch");
  if (button) {
    // Named in the language it switches to, and read in that language's voice.
    button.textContent = LANGUAGES[other];
    button.lang = other;
    button.setAttribute("aria-label", MESSAGES[other]["lang.switch"]({ name: LANGUAGES[other] }));
  }
}

/** The switch in the bar. */
export function wireLanguageSwitch() {
  const button = document.getElementById("lang-switch");
  if (button) button.addEventListener("click", () => setLanguage(current === "id" ? "en" : "id"));
  translatePage();
}

// ---- numbers and dates ----

/** An amount of rupiah as the language writes it: Rp 1.000.000 or Rp 1,000,000. */
export function rupiah(n) {
  return `Rp ${Number(n).toLocaleString(LOCALES[current], { maximumFractionDigits: 0 })}`;
}

export function number(n) {
  return Number(n).toLocaleString(LOCALES[current]);
}

/** The API's UTC time ("2026-12-07 07:45:53" or RFC 3339) as a Date. */
export function parseTime(value) {
  if (!value) return null;
  const iso = /[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value.replace(" ", "T")}Z`;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A time from the API in the browser's time zone, with the zone's name: "7 Des 2026 14.45 WIB". */
export function when(value) {
  const date = parseTime(value);
  if (!date) return value ?? "";
  return new Intl.DateTimeFormat(LOCALES[current], {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short",
  }).format(date);
}

/** A day from the API, without the time: "7 Desember 2026". */
export function day(value) {
  const date = parseTime(value);
  if (!date) return value ?? "";
  return new Intl.DateTimeFormat(LOCALES[current], { day: "numeric", month: "long", year: "numeric" }).format(date);
}

// ---- the API's errors in the app's words ----

/** The app's words for an error from the API (by its code), or the API's own when unknown. */
export function errorText(error) {
  const key = `error.${error.code}`;
  if (MESSAGES.en[key] === undefined) return error.message;
  return t(key, { message: error.message, retry: error.retryAfter });
}

/** Field messages (`errors` of a 400) the app knows, as patterns with their key. */
const FIELD_MESSAGES = [
  [/^is required( \(null removes it\))?$/, "field.required"],
  [/^must not be empty$/, "field.empty"],
  [/^must be given once$/, "field.once"],
  [/^must not contain control characters$/, "field.control"],
  [/^must be a string$/, "field.string"],
  [/^is not a recognised (field|parameter)$/, "field.unknown"],
  [/^must not be all digits$/, "field.all_digits"],
  [/^must have (\d+) to (\d+) digits$/, "field.digits_range"],
  [/^must be the 6 digits your authenticator app shows$/, "field.otp"],
  [/^must be the 6 digits that were sent$/, "field.reset_code"],
  [/^must be printable ASCII$/, "field.ascii"],
  [/^must be exactly 6 digits$/, "field.six_digits"],
  [/^must be digits, optionally after a leading '\+'$/, "field.phone"],
  [/^must be at most (\d+) characters$/, "field.max_chars"],
  [/^must be (\d+) to (\d+) characters$/, "field.chars_range"],
  [/^must be a whole number from (\d+) to (\d+)$/, "field.whole_number"],
  [/^must be a valid email address/, "field.email"],
  [/^must be a user id, a username or a phone number$/, "field.recipient"],
  [/^is already used by another of your entities$/, "field.entity_code_used"],
  [/^can't be removed: one of username, email, phone_number must remain$/, "field.one_identifier"],
  [/^at least one of username, email, phone_number is required$/, "field.one_identifier_needed"],
  [/^at most one of otp, recovery_code is allowed$/, "field.one_code"],
  [/^would take the balance over the largest amount/, "field.balance_limit"],
  [/^must be the entity's version/, "field.version"],
  [/^must be a UUID$/, "field.uuid"],
  [/^is not an mfa_token$/, "field.mfa_token"],
  [/^must be one of (.+)$/, "field.one_of"],
];

/** One field message from the API, with the field's name, in the app's words. */
export function fieldText(field, message) {
  for (const [pattern, key] of FIELD_MESSAGES) {
    const m = pattern.exec(message);
    if (m) return capitalised(t(key, { field: fieldName(field), a: m[1], b: m[2] }));
  }
  return capitalised(`${fieldName(field)} ${message}`.trim());
}

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function fieldName(field) {
  const key = `fieldname.${field}`;
  if (MESSAGES.en[key] !== undefined) return t(key);
  return field === "_" ? "" : field.replace(/_/g, " ");
}

// ---- the scripts' words ----

const MESSAGES = {
  en: {
    "lang.switch": ({ name }) => `${name}: switch the language`,
    "working": "Working…",

    // Field names in messages.
    "fieldname.username": "Username",
    "fieldname.email": "Email",
    "fieldname.phone_number": "Phone number",
    "fieldname.password": "Password",
    "fieldname.pin": "PIN",
    "fieldname.current_password": "Current password",
    "fieldname.current_pin": "Current PIN",
    "fieldname.first_name": "First name",
    "fieldname.last_name": "Last name",
    "fieldname.address": "Address",
    "fieldname.amount": "Amount",
    "fieldname.remarks": "Remarks",
    "fieldname.target_user": "Recipient",
    "fieldname.code": "Code",
    "fieldname.otp": "Code",
    "fieldname.recovery_code": "Recovery code",
    "fieldname.type": "Type",
    "fieldname.quantity": "Quantity",
    "fieldname.name": "Name",
    "fieldname.description": "Description",
    "fieldname.mfa_token": "Sign-in",
    "fieldname.target": "Recipient",
    "fieldname.picture": "Picture",
    "fieldname.status": "Status",
    "fieldname.user_id": "User id",
    "fieldname.limit": "Limit",

    "field.required": ({ field }) => `${field} is required.`,
    "field.empty": ({ field }) => `${field} must not be empty.`,
    "field.once": ({ field }) => `${field} must be given once.`,
    "field.control": ({ field }) => `${field} must not contain control characters.`,
    "field.string": ({ field }) => `${field} must be text.`,
    "field.unknown": ({ field }) => `${field} is not a field this form sends.`,
    "field.all_digits": ({ field }) => `${field} must not be all digits.`,
    "field.digits_range": ({ field, a, b }) => `${field} must have ${a} to ${b} digits.`,
    "field.otp": ({ field }) => `${field} must be the 6 digits your authenticator app shows.`,
    "field.reset_code": ({ field }) => `${field} must be the 6 digits that were sent.`,
    "field.ascii": ({ field }) => `${field} must use only letters, digits and common symbols (no accents).`,
    "field.six_digits": ({ field }) => `${field} must be exactly 6 digits.`,
    "field.phone": ({ field }) => `${field} must be digits, optionally after a leading +.`,
    "field.max_chars": ({ field, a }) => `${field} must be at most ${a} characters.`,
    "field.chars_range": ({ field, a, b }) => `${field} must be ${a} to ${b} characters.`,
    "field.whole_number": ({ field, a, b }) => `${field} must be a whole number from ${number(a)} to ${number(b)}.`,
    "field.email": ({ field }) => `${field} must be a valid email address (name@example.com).`,
    "field.recipient": ({ field }) => `${field} must be a user id, a username or a phone number.`,
    "field.entity_code_used": ({ field }) => `${field} is already used by another of your entities.`,
    "field.one_identifier": ({ field }) => `${field} can't be removed: a username, email or phone number must remain.`,
    "field.one_identifier_needed": () => "Give at least a username, an email or a phone number.",
    "field.one_code": () => "Give one code: from the app or a recovery code.",
    "field.balance_limit": ({ field }) => `${field} would take the balance over the most an account can hold.`,
    "field.version": ({ field }) => `${field} must be the entity's version.`,
    "field.uuid": ({ field }) => `${field} must be an id (a UUID).`,
    "field.mfa_token": () => "This sign-in has expired; log in again.",
    "field.one_of": ({ field, a }) => `${field} must be one of ${a}.`,

    "error.VALIDATION_ERROR": "Some fields need a change.",
    "error.INVALID_CURSOR": "This list has changed; load it again.",
    "error.INVALID_CODE": "The code is wrong, has expired or was already used.",
    "error.INSUFFICIENT_BALANCE": "Balance is not enough.",
    "error.SELF_TRANSFER": "You can't transfer to yourself.",
    "error.UNAUTHENTICATED": "Please log in again.",
    "error.INVALID_CREDENTIALS": "Invalid credentials: the identifier or the password or PIN is wrong.",
    "error.FORBIDDEN": "This needs an operator (role admin).",
    "error.NOT_FOUND": "It no longer exists.",
    "error.USER_NOT_FOUND": "Recipient not found.",
    "error.ALREADY_EXISTS": "That is already used.",
    "error.ALREADY_REGISTERED": "Already registered to another account.",
    "error.IDEMPOTENCY_KEY_REUSED": "This request was already sent with other details; send it again.",
    "error.CONCURRENT_UPDATE": "Your account was changed by another request at the same time; try again.",
    "error.VERSION_CONFLICT": "The entity was changed by another request; load the latest version and make your change again.",
    "error.BALANCE_NOT_ZERO": "Your balance must be Rp 0 first: pay out or transfer what is left.",
    "error.TRANSFER_PENDING": "A transfer of yours is still pending; try again once it settles.",
    "error.PAYLOAD_TOO_LARGE": "The file is too large (at most 1 MB).",
    "error.UNSUPPORTED_MEDIA_TYPE": "Choose a PNG, JPEG or WebP picture.",
    "error.TOO_MANY_ATTEMPTS": ({ retry }) => (retry
      ? `Too many attempts; try again in ${minutes(retry, "en")}.`
      : "Too many attempts; try again later."),
    "error.MFA_REQUIRED": "Enter a code from your authenticator app, or a recovery code.",
    "error.MFA_ALREADY_ENABLED": "Two-step sign-in is already on.",
    "error.METHOD_NOT_ALLOWED": "The app asked for something the server does not do; reload the page.",
    "error.INTERNAL": "Something went wrong on our side; try again in a moment.",
    "error.NETWORK": "The server can't be reached; check your connection and try again.",
    "error.HTTP": "The request failed; try again.",

    // Session and navigation.
    "session.ended": "Your session has ended; please log in again.",
    "session.login_again": "Please log in.",
    "login.restart": "That sign-in took too long or too many codes; log in again.",
    "notice.welcome": "Welcome to dompet: your account is ready.",
    "notice.logged_out": "You have logged out.",
    "notice.logged_out_everywhere": "Every login of yours has ended, this one too.",
    "notice.closed": "Your account is closed. Thank you for using dompet.",
    "notice.reset_done": "Your new secret is set and every other login has ended.",
    "notice.reset_login": "Your new secret is set: log in with it.",
    "title": ({ view }) => `${view} · dompet`,

    // Account.
    "account.none": "—",
    "account.mfa_on": "On",
    "account.mfa_off": "Off",
    "mfa.on": "On: logging in and moving money ask for a code from your authenticator app.",
    "mfa.off": "Off: your password or PIN alone logs in.",
    "mfa.almost": "Almost there: add the key to your app, then enter the code it shows.",
    "mfa.enabled": "Two-step sign-in is on. Your other logins have ended.",
    "mfa.disabled": "Two-step sign-in is off. Your other logins have ended.",
    "mfa.copied": "Copied. Keep them somewhere safe, away from your phone.",
    "mfa.selected": "Selected: copy them with your keyboard or menu.",

    // Picture.
    "picture.uploaded": "Your picture is saved.",
    "picture.removed": "Your picture is removed.",
    "picture.choose": "Choose a picture first.",
    "picture.too_large": ({ bytes }) => `This file is ${megabytes(bytes)}; a picture can be at most 1 MB.`,
    "picture.empty": "This file is empty; choose a picture.",
    "picture.unreadable": "This file is not a picture we can read (it may be damaged); choose another PNG, JPEG or WebP.",
    "picture.wrong_type": "Choose a PNG, JPEG or WebP picture.",
    "picture.of": ({ name }) => `Picture of ${name}`,

    // Wallet.
    "topup.done": ({ amount, balance }) => `Topped up ${rupiah(amount)}. Balance ${rupiah(balance)}.`,
    "pay.done": ({ amount, balance }) => `Paid ${rupiah(amount)}. Balance ${rupiah(balance)}.`,
    "transfer.sent": ({ amount, status }) => `Sent ${rupiah(amount)}: ${statusWord(status, "en")}.`,
    "transfer.question": ({ amount, who }) => `Send ${rupiah(amount)} to ${who}?`,
    "transfer.question_no_amount": ({ who }) => `Send to ${who}?`,
    "transfer.unknown": ({ message }) => `Transfer status unknown: ${message}`,
    "transfer.pending": ({ amount }) => `Sent ${rupiah(amount)}: PENDING, waiting to be credited…`,
    "transfer.settled": ({ amount, date }) => `Transfer of ${rupiah(amount)} settled: SUCCESS on ${when(date)}.`,
    "transfer.failed": ({ amount }) => `Transfer of ${rupiah(amount)} FAILED; the money is back in your balance.`,
    "transfer.still_pending": "The transfer is still PENDING; its status is under Transactions.",

    // Transactions.
    "tx.transfer_in": "Transfer in",
    "tx.transfer_out": "Transfer out",
    "tx.payment": "Payment",
    "tx.topup": "Top up",
    "tx.none": "No transactions yet.",
    "status.SUCCESS": "SUCCESS",
    "status.PENDING": "PENDING",
    "status.FAILED": "FAILED",

    // Security.
    "sessions.this_one": "This one",
    "sessions.end": "End",
    "sessions.end_label": ({ date }) => `End the login of ${when(date)}`,
    "sessions.ended": ({ date }) => `Ended the login of ${when(date)}.`,
    "sessions.yes": "Yes",
    "sessions.no": "No",
    "identifier.saved": ({ value }) => `Saved: ${value}.`,
    "identifier.removed": "Removed.",
    "secret.changed": "Changed. Every other login of yours has ended.",
    "reset.sent": "If an account has that username, email or phone number, a code is on its way to its email or phone. It works once, for 15 minutes.",

    // Profile.
    "profile.saved": ({ date }) => `Saved on ${when(date)}.`,

    // Entities.
    "entities.none": "No entities.",
    "entities.edit": "Edit",
    "entities.edit_label": ({ code }) => `Edit ${code}`,
    "entities.delete": "Delete",
    "entities.delete_label": ({ code }) => `Delete ${code}`,
    "entities.confirm_delete": "Confirm delete",
    "entities.confirm_delete_label": ({ code }) => `Press again to delete ${code}`,
    "entities.deleting": "Deleting…",
    "entities.deleted": ({ code }) => `Deleted ${code}.`,
    "entities.edit_title": ({ code, version }) => `Edit ${code} (version ${version})`,
    "entities.new_title": "New entity",
    "entities.save_changes": "Save changes",
    "entities.create": "Create",
    "entities.loaded": ({ version }) => `Loaded version ${version}; make your change again.`,
    "entities.saved": ({ code, version }) => `Saved ${code}: version ${version}.`,
    "entities.created": ({ code }) => `Created ${code}.`,

    // Dashboard.
    "dash.not_operator": "This account is not an operator's; log in as one.",
    "dash.refresh_failed": ({ message }) => `Could not refresh: ${message}`,
    "dash.updated": ({ time }) => `Updated ${clock(time)}`,
    "dash.unknown": "unknown",
    "dash.holds": "holds",
    "dash.broken": "broken",
    "dash.money_detail": ({ held, entered, date }) =>
      ` held ${rupiah(held)} = balances + pending; entered ${rupiah(entered)} = top-ups − payments · checked ${when(date)}`,
    "dash.in_process": "in process",
    "dash.none": "None",
    "dash.no_transfers": "No transfers.",
    "dash.bar": ({ n, ago }) => `${n} settled ${ago} min ago`,
    "dash.chart_note": ({ total, minutes, newest, max }) =>
      `${total} settled in the last ${minutes} minutes (of the newest ${newest} settled transfers); busiest minute ${max}.`,
    "dash.not_known": "not known",
    "unit.s": "s",
    "unit.min": "min",
    "unit.h": "h",
  },
  id: {
    "lang.switch": ({ name }) => `${name}: ganti bahasa`,
    "working": "Memproses…",

    "fieldname.username": "Nama pengguna",
    "fieldname.email": "Email",
    "fieldname.phone_number": "Nomor HP",
    "fieldname.password": "Kata sandi",
    "fieldname.pin": "PIN",
    "fieldname.current_password": "Kata sandi saat ini",
    "fieldname.current_pin": "PIN saat ini",
    "fieldname.first_name": "Nama depan",
    "fieldname.last_name": "Nama belakang",
    "fieldname.address": "Alamat",
    "fieldname.amount": "Jumlah",
    "fieldname.remarks": "Catatan",
    "fieldname.target_user": "Penerima",
    "fieldname.code": "Kode",
    "fieldname.otp": "Kode",
    "fieldname.recovery_code": "Kode pemulihan",
    "fieldname.type": "Tipe",
    "fieldname.quantity": "Kuantitas",
    "fieldname.name": "Nama",
    "fieldname.description": "Deskripsi",
    "fieldname.mfa_token": "Proses masuk",
    "fieldname.target": "Penerima",
    "fieldname.picture": "Foto",
    "fieldname.status": "Status",
    "fieldname.user_id": "ID pengguna",
    "fieldname.limit": "Batas",

    "field.required": ({ field }) => `${field} wajib diisi.`,
    "field.empty": ({ field }) => `${field} tidak boleh kosong.`,
    "field.once": ({ field }) => `${field} hanya boleh diberikan sekali.`,
    "field.control": ({ field }) => `${field} tidak boleh berisi karakter kontrol.`,
    "field.string": ({ field }) => `${field} harus berupa teks.`,
    "field.unknown": ({ field }) => `${field} bukan isian yang dikirim formulir ini.`,
    "field.all_digits": ({ field }) => `${field} tidak boleh hanya berisi angka.`,
    "field.digits_range": ({ field, a, b }) => `${field} harus terdiri dari ${a} sampai ${b} angka.`,
    "field.otp": ({ field }) => `${field} harus 6 angka yang ditampilkan aplikasi autentikator Anda.`,
    "field.reset_code": ({ field }) => `${field} harus 6 angka yang dikirimkan kepada Anda.`,
    "field.ascii": ({ field }) => `${field} hanya boleh berisi huruf, angka, dan simbol umum (tanpa aksen).`,
    "field.six_digits": ({ field }) => `${field} harus tepat 6 angka.`,
    "field.phone": ({ field }) => `${field} harus berupa angka, boleh diawali +.`,
    "field.max_chars": ({ field, a }) => `${field} paling banyak ${a} karakter.`,
    "field.chars_range": ({ field, a, b }) => `${field} harus ${a} sampai ${b} karakter.`,
    "field.whole_number": ({ field, a, b }) => `${field} harus bilangan bulat dari ${number(a)} sampai ${number(b)}.`,
    "field.email": ({ field }) => `${field} harus alamat email yang benar (nama@contoh.com).`,
    "field.recipient": ({ field }) => `${field} harus berupa ID pengguna, nama pengguna, atau nomor telepon.`,
    "field.entity_code_used": ({ field }) => `${field} sudah dipakai entitas Anda yang lain.`,
    "field.one_identifier": ({ field }) => `${field} tidak bisa dihapus: harus tersisa nama pengguna, email, atau nomor telepon.`,
    "field.one_identifier_needed": () => "Isi setidaknya nama pengguna, email, atau nomor telepon.",
    "field.one_code": () => "Isi satu kode saja: dari aplikasi atau kode pemulihan.",
    "field.balance_limit": ({ field }) => `${field} akan membuat saldo melebihi batas maksimal sebuah akun.`,
    "field.version": ({ field }) => `${field} harus versi entitas.`,
    "field.uuid": ({ field }) => `${field} harus berupa ID (UUID).`,
    "field.mfa_token": () => "Proses masuk ini sudah kedaluwarsa; silakan masuk lagi.",
    "field.one_of": ({ field, a }) => `${field} harus salah satu dari ${a}.`,

    "error.VALIDATION_ERROR": "Beberapa isian perlu diperbaiki.",
    "error.INVALID_CURSOR": "Daftar ini sudah berubah; muat ulang.",
    "error.INVALID_CODE": "Kode salah, kedaluwarsa, atau sudah pernah dipakai.",
    "error.INSUFFICIENT_BALANCE": "Saldo tidak cukup.",
    "error.SELF_TRANSFER": "Anda tidak bisa mentransfer ke diri sendiri.",
    "error.UNAUTHENTICATED": "Silakan masuk lagi.",
    "error.INVALID_CREDENTIALS": "Data masuk salah: pengenal atau kata sandi/PIN tidak cocok.",
    "error.FORBIDDEN": "Ini khusus operator (peran admin).",
    "error.NOT_FOUND": "Data ini sudah tidak ada.",
    "error.USER_NOT_FOUND": "Penerima tidak ditemukan.",
    "error.ALREADY_EXISTS": "Itu sudah dipakai.",
    "error.ALREADY_REGISTERED": "Sudah terdaftar di akun lain.",
    "error.IDEMPOTENCY_KEY_REUSED": "Permintaan ini sudah terkirim dengan rincian lain; kirim ulang.",
    "error.CONCURRENT_UPDATE": "Akun Anda diubah oleh permintaan lain pada saat yang sama; coba lagi.",
    "error.VERSION_CONFLICT": "Entitas ini diubah oleh permintaan lain; muat versi terbaru lalu ulangi perubahan Anda.",
    "error.BALANCE_NOT_ZERO": "Saldo Anda harus Rp 0 dulu: bayarkan atau transfer sisanya.",
    "error.TRANSFER_PENDING": "Masih ada transfer Anda yang menunggu diproses; coba lagi setelah selesai.",
    "error.PAYLOAD_TOO_LARGE": "Berkas terlalu besar (maksimal 1 MB).",
    "error.UNSUPPORTED_MEDIA_TYPE": "Pilih gambar PNG, JPEG, atau WebP.",
    "error.TOO_MANY_ATTEMPTS": ({ retry }) => (retry
      ? `Terlalu banyak percobaan; coba lagi dalam ${minutes(retry, "id")}.`
      : "Terlalu banyak percobaan; coba lagi nanti."),
    "error.MFA_REQUIRED": "Masukkan kode dari aplikasi autentikator Anda, atau kode pemulihan.",
    "error.MFA_ALREADY_ENABLED": "Verifikasi dua langkah sudah aktif.",
    "error.METHOD_NOT_ALLOWED": "Aplikasi meminta sesuatu yang tidak dilayani server; muat ulang halaman.",
    "error.INTERNAL": "Terjadi kesalahan di sisi kami; coba lagi sebentar lagi.",
    "error.NETWORK": "Server tidak dapat dihubungi; periksa koneksi Anda lalu coba lagi.",
    "error.HTTP": "Permintaan gagal; coba lagi.",

    "session.ended": "Sesi Anda telah berakhir; silakan masuk lagi.",
    "session.login_again": "Silakan masuk.",
    "login.restart": "Proses masuk terlalu lama atau kodenya terlalu banyak dicoba; masuk lagi.",
    "notice.welcome": "Selamat datang di dompet: akun Anda sudah siap.",
    "notice.logged_out": "Anda sudah keluar.",
    "notice.logged_out_everywhere": "Semua sesi login Anda telah diakhiri, termasuk yang ini.",
    "notice.closed": "Akun Anda sudah ditutup. Terima kasih telah memakai dompet.",
    "notice.reset_done": "Kata sandi atau PIN baru Anda sudah disimpan dan semua sesi login lain telah diakhiri.",
    "notice.reset_login": "Kata sandi atau PIN baru Anda sudah disimpan: silakan masuk dengannya.",
    "title": ({ view }) => `${view} · dompet`,

    "account.none": "—",
    "account.mfa_on": "Aktif",
    "account.mfa_off": "Nonaktif",
    "mfa.on": "Aktif: setiap masuk dan transaksi memerlukan kode dari aplikasi autentikator Anda.",
    "mfa.off": "Nonaktif: kata sandi atau PIN saja sudah cukup untuk masuk.",
    "mfa.almost": "Hampir selesai: tambahkan kunci ke aplikasi Anda, lalu masukkan kode yang ditampilkannya.",
    "mfa.enabled": "Verifikasi dua langkah aktif. Sesi login Anda yang lain telah diakhiri.",
    "mfa.disabled": "Verifikasi dua langkah nonaktif. Sesi login Anda yang lain telah diakhiri.",
    "mfa.copied": "Tersalin. Simpan di tempat aman, terpisah dari ponsel Anda.",
    "mfa.selected": "Sudah dipilih: salin dengan keyboard atau menu.",

    "picture.uploaded": "Foto Anda sudah disimpan.",
    "picture.removed": "Foto Anda sudah dihapus.",
    "picture.choose": "Pilih foto terlebih dahulu.",
    "picture.too_large": ({ bytes }) => `Berkas ini ${megabytes(bytes)}; foto paling besar 1 MB.`,
    "picture.empty": "Berkas ini kosong; pilih sebuah foto.",
    "picture.unreadable": "Berkas ini bukan foto yang bisa kami baca (mungkin rusak); pilih PNG, JPEG, atau WebP lain.",
    "picture.wrong_type": "Pilih gambar PNG, JPEG, atau WebP.",
    "picture.of": ({ name }) => `Foto ${name}`,

    "topup.done": ({ amount, balance }) => `Isi saldo ${rupiah(amount)} berhasil. Saldo ${rupiah(balance)}.`,
    "pay.done": ({ amount, balance }) => `Pembayaran ${rupiah(amount)} berhasil. Saldo ${rupiah(balance)}.`,
    "transfer.sent": ({ amount, status }) => `Terkirim ${rupiah(amount)}: ${statusWord(status, "id")}.`,
    "transfer.question": ({ amount, who }) => `Kirim ${rupiah(amount)} ke ${who}?`,
    "transfer.question_no_amount": ({ who }) => `Kirim ke ${who}?`,
    "transfer.unknown": ({ message }) => `Status transfer tidak diketahui: ${message}`,
    "transfer.pending": ({ amount }) => `Terkirim ${rupiah(amount)}: MENUNGGU, sedang diteruskan ke penerima…`,
    "transfer.settled": ({ amount, date }) => `Transfer ${rupiah(amount)} selesai: BERHASIL pada ${when(date)}.`,
    "transfer.failed": ({ amount }) => `Transfer ${rupiah(amount)} GAGAL; uangnya sudah kembali ke saldo Anda.`,
    "transfer.still_pending": "Transfer masih MENUNGGU; statusnya ada di Transaksi.",

    "tx.transfer_in": "Transfer masuk",
    "tx.transfer_out": "Transfer keluar",
    "tx.payment": "Pembayaran",
    "tx.topup": "Isi saldo",
    "tx.none": "Belum ada transaksi.",
    "status.SUCCESS": "BERHASIL",
    "status.PENDING": "MENUNGGU",
    "status.FAILED": "GAGAL",

    "sessions.this_one": "Sesi ini",
    "sessions.end": "Akhiri",
    "sessions.end_label": ({ date }) => `Akhiri sesi login sejak ${when(date)}`,
    "sessions.ended": ({ date }) => `Sesi login sejak ${when(date)} telah diakhiri.`,
    "sessions.yes": "Ya",
    "sessions.no": "Tidak",
    "identifier.saved": ({ value }) => `Tersimpan: ${value}.`,
    "identifier.removed": "Dihapus.",
    "secret.changed": "Sudah diganti. Semua sesi login Anda yang lain telah diakhiri.",
    "reset.sent": "Jika ada akun dengan nama pengguna, email, atau nomor telepon itu, kode sedang dikirim ke email atau ponselnya. Kode berlaku sekali, selama 15 menit.",

    "profile.saved": ({ date }) => `Tersimpan pada ${when(date)}.`,

    "entities.none": "Belum ada entitas.",
    "entities.edit": "Ubah",
    "entities.edit_label": ({ code }) => `Ubah ${code}`,
    "entities.delete": "Hapus",
    "entities.delete_label": ({ code }) => `Hapus ${code}`,
    "entities.confirm_delete": "Yakin hapus",
    "entities.confirm_delete_label": ({ code }) => `Tekan lagi untuk menghapus ${code}`,
    "entities.deleting": "Menghapus…",
    "entities.deleted": ({ code }) => `${code} dihapus.`,
    "entities.edit_title": ({ code, version }) => `Ubah ${code} (versi ${version})`,
    "entities.new_title": "Entitas baru",
    "entities.save_changes": "Simpan perubahan",
    "entities.create": "Buat",
    "entities.loaded": ({ version }) => `Versi ${version} dimuat; ulangi perubahan Anda.`,
    "entities.saved": ({ code, version }) => `${code} tersimpan: versi ${version}.`,
    "entities.created": ({ code }) => `${code} dibuat.`,

    "dash.not_operator": "Akun ini bukan akun operator; masuk sebagai operator.",
    "dash.refresh_failed": ({ message }) => `Gagal memperbarui: ${message}`,
    "dash.updated": ({ time }) => `Diperbarui ${clock(time)}`,
    "dash.unknown": "tidak diketahui",
    "dash.holds": "seimbang",
    "dash.broken": "tidak seimbang",
    "dash.money_detail": ({ held, entered, date }) =>
      ` tersimpan ${rupiah(held)} = saldo + transfer menunggu; masuk ${rupiah(entered)} = isi saldo − pembayaran · diperiksa ${when(date)}`,
    "dash.in_process": "tanpa antrean (dalam proses server)",
    "dash.none": "Tidak ada",
    "dash.no_transfers": "Belum ada transfer.",
    "dash.bar": ({ n, ago }) => `${n} selesai ${ago} menit lalu`,
    "dash.chart_note": ({ total, minutes, newest, max }) =>
      `${total} selesai dalam ${minutes} menit terakhir (dari ${newest} transfer selesai terbaru); menit tersibuk ${max}.`,
    "dash.not_known": "tidak diketahui",
    "unit.s": "dtk",
    "unit.min": "mnt",
    "unit.h": "jam",
  },
};

/** A time of day in the browser's time zone, with the zone: "14:45:03 WIB". */
export function clock(value) {
  const date = parseTime(value);
  if (!date) return value ?? "";
  return new Intl.DateTimeFormat(LOCALES[current], {
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  }).format(date);
}

/** A file's size in megabytes, rounded up to a tenth: "1,1 MB". */
function megabytes(bytes) {
  const mb = Math.ceil((Number(bytes) / (1024 * 1024)) * 10) / 10;
  return `${mb.toLocaleString(LOCALES[current], { minimumFractionDigits: 1, maximumFractionDigits: 1 })} MB`;
}

function statusWord(status, lang) {
  return MESSAGES[lang][`status.${status}`] ?? status;
}

function minutes(seconds, lang) {
  const m = Math.max(1, Math.ceil(Number(seconds) / 60));
  if (lang === "id") return `${m} menit`;
  return m === 1 ? "a minute" : `${m} minutes`;
}

/** Keys of one language missing from the other (an empty list when the two agree). */
export function missingKeys() {
  const missing = [];
  for (const [a, b] of [["en", "id"], ["id", "en"]]) {
    for (const key of Object.keys(MESSAGES[a])) if (!(key in MESSAGES[b])) missing.push(`${b}: ${key}`);
    for (const key of Object.keys(PAGE_TEXT[a])) if (!(key in PAGE_TEXT[b])) missing.push(`${b}: ${key}`);
  }
  return missing;
}
