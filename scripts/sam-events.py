#!/usr/bin/env python3
"""Every sample event in events/ through `sam local invoke`, each answer checked against what
the function's event test (tests/tests/api/functions/) expects: the status and the body's code
for the HTTP functions, the batch failures, the sweep and the audit's verdict for the others.

Run by scripts/sam-local, which builds the functions, starts DynamoDB Local and moto and passes:
  SAM_LOCAL_ARGS       JSON list of the arguments every `sam local invoke` gets
  SAM_LOCAL_MAKE_ADMIN command that makes a username an operator on the same table
  SAM_LOCAL_MOTO       moto's URL (the one-time codes SES "sent" are read from it)

The events are used as the tests use them: placeholders (ACCESS_TOKEN, ENTITY_ID, ...) replaced
with what earlier answers gave. An event in events/ that no step uses fails the run.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARGS = json.loads(os.environ["SAM_LOCAL_ARGS"])
USED = set()
CHECKS = 0


def fail(message):
    print(f"sam-events: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def invoke(function, event_name, **replace):
    """`sam local invoke FUNCTION -e events/EVENT_NAME.json` with the placeholders replaced;
    returns the function's answer (parsed JSON)."""
    USED.add(event_name)
    text = (ROOT / "events" / f"{event_name}.json").read_text()
    for placeholder, value in replace.items():
        text = text.replace(placeholder, value)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        started = time.monotonic()
        run = subprocess.run(["sam", "local", "invoke", function, "-e", path, *ARGS],
                             capture_output=True, text=True, timeout=300)
    finally:
        os.unlink(path)
    if run.returncode != 0:
        fail(f"sam local invoke {function} -e events/{event_name}.json exited {run.returncode}:\n{run.stderr[-3000:]}")
    # SAM prints the function's answer as the last line of its stdout.
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        fail(f"{function} {event_name}: no answer on stdout:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    if isinstance(answer, dict) and answer.get("errorType"):
        fail(f"{function} {event_name}: the function failed: {answer}\n{run.stderr[-3000:]}")
    print(f"  {function:<24} {event_name:<22} {time.monotonic() - started:5.1f} s", flush=True)
    global LAST_METRICS
    LAST_METRICS = metrics_in(run.stderr)
    return answer


# The Embedded Metric Format documents the last invocation wrote (SAM prints the function's
# output on its stderr): {metric name: (value, dimensions)}.
LAST_METRICS = {}


def metrics_in(output):
    found = {}
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            continue
        aws = doc.get("_aws") if isinstance(doc, dict) else None
        if not aws:
            continue
        for directive in aws["CloudWatchMetrics"]:
            if directive["Namespace"] != "dompet":
                fail(f"a metric outside the namespace dompet: {line}")
            dimensions = {d: doc[d] for ds in directive["Dimensions"] for d in ds}
            for metric in directive["Metrics"]:
                found[metric["Name"]] = (doc[metric["Name"]], dimensions)
    return found


def expect_metric(what, name, value=None, **dimensions):
    """The last invocation wrote `name` (with `value`, if given, and `dimensions`)."""
    global CHECKS
    if name not in LAST_METRICS:
        fail(f"{what}: no EMF metric {name} in the function's output (found {sorted(LAST_METRICS)})")
    got, dims = LAST_METRICS[name]
    if value is not None and got != value:
        fail(f"{what}: EMF {name} = {got}, expected {value}")
    if dims != dimensions:
        fail(f"{what}: EMF {name} dimensions {dims}, expected {dimensions}")
    CHECKS += 1
    return got


def http(function, event_name, want_status, want_code=None, **replace):
    """An HTTP function's answer to a sample event, checked; returns (body, headers)."""
    global CHECKS
    answer = invoke(function, event_name, **replace)
    status = answer.get("statusCode")
    raw = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    try:
        body = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = raw
    code = body.get("code") if isinstance(body, dict) else None
    if status != want_status or (want_code is not None and code != want_code):
        fail(f"{function} {event_name}: {status} {code}, expected {want_status} {want_code or ''}: {str(body)[:500]}")
    CHECKS += 1
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    return body, headers


def result(body):
    return body["result"]


def sent_code(to):
    """The one-time code in the last email moto's SES recorded to `to`."""
    with urllib.request.urlopen(f"{os.environ['SAM_LOCAL_MOTO']}/moto-api/data.json") as r:
        data = json.load(r)
    emails = [m for m in data["ses"]["Message"] if m["destinations"]["ToAddresses"] == [to]]
    if not emails:
        fail(f"no email to {to} in moto's SES")
    found = re.search(r"\b(\d{6})\b", emails[-1]["body"])
    if not found:
        fail(f"no code in the email to {to}")
    return found.group(1)


class Authenticator:
    """An authenticator app on a TOTP secret (RFC 6238: SHA-1, 6 digits, 30-second steps) as
    POST /mfa/totp gives it in base32."""

    def __init__(self, secret):
        self.key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
        self.last = None

    def code_of(self, step):
        digest = hmac.new(self.key, struct.pack(">Q", step), hashlib.sha1).digest()
        offset = digest[-1] & 0x0F
        value = int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFFFFFF
        return f"{value % 1_000_000:06d}"

    def next_code(self):
        """A code of the current step, or of the next one (the service accepts a step either
        side of its own), later than the last code given: a step is accepted once."""
        while True:
            now = int(time.time()) // 30
            step = now if self.last is None else max(now, self.last + 1)
            if step <= now + 1:
                self.last = step
                return self.code_of(step)
            time.sleep(30 - time.time() % 30 + 0.5)


def main():
    global CHECKS
    print("sam local invoke, every sample event:", flush=True)
    # Registration (register.rs).
    sender = result(http("RegisterFunction", "register", 201)[0])
    http("RegisterFunction", "register", 409, "ALREADY_REGISTERED")
    recipient = result(http("RegisterFunction", "register-pin", 201)[0])

    # Logins, refresh, logout (login.rs).
    tokens = result(http("LoginFunction", "login", 200)[0])
    expect_metric("login", "Logins", 1)
    http("LoginFunction", "login", 401, "INVALID_CREDENTIALS", **{"rahasia-sekali": "salah-sekali"})
    expect_metric("login with a wrong password", "LoginFailures", 1)
    refreshed = result(http("LoginFunction", "token-refresh", 200, REFRESH_TOKEN=tokens["refresh_token"])[0])
    if refreshed["refresh_token"] == tokens["refresh_token"]:
        fail("token-refresh: the refresh token was not rotated")
    http("LoginFunction", "token-refresh", 401, "UNAUTHENTICATED", REFRESH_TOKEN=tokens["refresh_token"])
    recipient_token = result(http("LoginFunction", "token", 200)[0])["access_token"]
    http("LoginFunction", "logout", 200, ACCESS_TOKEN=recipient_token)
    http("AccountFunction", "account", 401, "UNAUTHENTICATED", ACCESS_TOKEN=recipient_token)
    recipient_token = result(http("LoginFunction", "token", 200)[0])["access_token"]
    access = result(http("LoginFunction", "login", 200)[0])["access_token"]

    # The account (account.rs).
    account = result(http("AccountFunction", "account", 200, ACCESS_TOKEN=access)[0])
    if account["user_id"] != sender["user_id"] or account["balance"] != 0:
        fail(f"account: {account}")
    http("AccountFunction", "account", 401, "UNAUTHENTICATED")
    found = result(http("AccountFunction", "users-lookup", 200, ACCESS_TOKEN=access, TARGET="0811255501")[0])
    if found["user_id"] != recipient["user_id"]:
        fail(f"lookup: {found}")

    # Money (pay.rs, topup.rs, transfer.rs, transfer_worker.rs, transactions.rs).
    http("PayFunction", "pay", 400, "INSUFFICIENT_BALANCE", ACCESS_TOKEN=access)
    http("TopupFunction", "topup", 200, ACCESS_TOKEN=access)
    expect_metric("topup", "MoneyMoved", 500000, Kind="topup")
    if result(http("PayFunction", "pay", 200, ACCESS_TOKEN=access)[0])["balance_after"] != 400000:
        fail("pay: wrong balance after")
    transfer = result(http("TransferFunction", "transfer", 202, ACCESS_TOKEN=access, RECIPIENT="0811255501")[0])
    transfer_id = transfer["transfer_id"]
    http("TransferFunction", "transfer-status", 200, ACCESS_TOKEN=access, TRANSFER_ID=transfer_id)
    settled = invoke("TransferWorkerFunction", "transfer-worker",
                     TRANSFER_ID=transfer_id, TO_USER=recipient["user_id"])
    failed = [f["itemIdentifier"] for f in settled.get("batchItemFailures", [])]
    if failed != ["7b9d2a1e-3c4f-4b8a-9e6d-5f0a1b2c3d4e"]:
        fail(f"transfer-worker: batch failures {failed}, expected only the poison message")
    CHECKS += 1
    expect_metric("transfer-worker", "TransfersSettled", 1)
    lag = expect_metric("transfer-worker", "SettlementLag")
    if not (isinstance(lag, list) and len(lag) == 1 and lag[0] >= 0):
        fail(f"transfer-worker: SettlementLag {lag}, expected one value (milliseconds)")
    status = result(http("TransferFunction", "transfer-status", 200, ACCESS_TOKEN=access, TRANSFER_ID=transfer_id)[0])
    if status["transfer_status"] != "SUCCESS":
        fail(f"the worker did not settle the transfer: {status}")
    credited = result(http("AccountFunction", "account", 200, ACCESS_TOKEN=recipient_token)[0])
    if credited["balance"] != 30000:
        fail(f"recipient credited {credited['balance']}, expected 30000 once")
    entries = result(http("TransactionsFunction", "transactions", 200, ACCESS_TOKEN=access)[0])
    if len(entries) != 3:
        fail(f"transactions: {len(entries)} entries, expected 3 (top-up, payment, transfer)")
    swept = invoke("TransferSweepFunction", "transfer-sweep")
    if swept.get("requeued") != 0:
        fail(f"transfer-sweep: {swept}, expected nothing requeued")
    CHECKS += 1
    # The stream audit: sam local has no event source mapping, so the sample batch stands in
    # for the table's stream; the schedule's verdict counts it, the full check reads the table.
    applied = invoke("AuditStreamFunction", "audit-stream")
    if applied.get("batchItemFailures") != []:
        fail(f"audit-stream: {applied}")
    verdict = invoke("AuditFunction", "audit")
    if verdict.get("verdict") != "holds" or verdict.get("accounts_checked") != 1:
        fail(f"audit (the stream audit's verdict): {verdict}")
    CHECKS += 1
    verdict = invoke("AuditFunction", "audit-full")
    if verdict.get("verdict") != "holds" or verdict.get("broken_accounts") != []:
        fail(f"audit (full): {verdict}")
    CHECKS += 1
    expect_metric("audit", "AuditBroken", 0)
    expect_metric("audit", "AuditBrokenAccounts", 0)

    # Profile and entities (profile.rs, entities.rs).
    if result(http("ProfileFunction", "profile", 200, ACCESS_TOKEN=access)[0])["first_name"] != "Tom":
        fail("profile not updated")
    entity = result(http("EntitiesFunction", "entities-create", 201, ACCESS_TOKEN=access)[0])
    http("EntitiesFunction", "entities-list", 200, ACCESS_TOKEN=access)
    http("EntitiesFunction", "entity-get", 200, ACCESS_TOKEN=access, ENTITY_ID=entity["entity_id"])
    http("EntitiesFunction", "entity-update", 200, ACCESS_TOKEN=access, ENTITY_ID=entity["entity_id"])
    http("EntitiesFunction", "entity-delete", 200, ACCESS_TOKEN=access, ENTITY_ID=entity["entity_id"])
    http("EntitiesFunction", "entity-get", 404, "NOT_FOUND", ACCESS_TOKEN=access, ENTITY_ID=entity["entity_id"])

    # Pictures (account.rs): S3 in moto.
    http("AccountFunction", "account-picture", 200, ACCESS_TOKEN=access)
    _, headers = http("AccountFunction", "user-picture", 200, ACCESS_TOKEN=recipient_token, USER_ID=sender["user_id"])
    if headers.get("content-type") != "image/png":
        fail(f"user-picture: content-type {headers.get('content-type')}")
    http("AccountFunction", "account-picture-delete", 200, ACCESS_TOKEN=access)
    http("AccountFunction", "user-picture", 404, ACCESS_TOKEN=recipient_token, USER_ID=sender["user_id"])

    # Operators (admin.rs).
    http("AdminFunction", "admin-stats", 403, "FORBIDDEN", ACCESS_TOKEN=access)
    subprocess.run(shlex.split(os.environ["SAM_LOCAL_MAKE_ADMIN"]) + ["guntur"], check=True,
                   stdout=subprocess.DEVNULL)
    stats = result(http("AdminFunction", "admin-stats", 200, ACCESS_TOKEN=access)[0])
    if stats["money_check"]["verdict"] != "holds":
        fail(f"admin-stats: the audit's verdict is not shown: {stats['money_check']}")
    http("AdminFunction", "admin-transfers", 200, ACCESS_TOKEN=access)

    # The web function (web.rs).
    http("WebFunction", "jwks", 200)
    http("WebFunction", "openapi", 200)
    http("WebFunction", "web-app", 200)
    http("WebFunction", "dashboard", 200)
    http("WebFunction", "web-asset", 200)
    http("WebFunction", "not-found", 404, "NOT_FOUND")

    # Sessions (login.rs): a second login, ended by the first; then every login.
    second = result(http("LoginFunction", "login", 200)[0])["access_token"]
    listed = result(http("LoginFunction", "sessions", 200, ACCESS_TOKEN=access)[0])
    other = [s["session_id"] for s in listed if not s["current"]]
    if len(other) < 1:
        fail(f"sessions: {listed}")
    http("LoginFunction", "session-delete", 200, ACCESS_TOKEN=access, SESSION_ID=other[0])
    http("LoginFunction", "session-delete", 404, "NOT_FOUND", ACCESS_TOKEN=access, SESSION_ID=other[0])
    http("AccountFunction", "account", 401, "UNAUTHENTICATED", ACCESS_TOKEN=second)
    http("LoginFunction", "logout-all", 200, ACCESS_TOKEN=access)
    http("AccountFunction", "account", 401, "UNAUTHENTICATED", ACCESS_TOKEN=access)

    # Identifier and secret changes (account.rs): the secret change keeps only this login.
    access = result(http("LoginFunction", "login", 200)[0])["access_token"]
    other = result(http("LoginFunction", "login", 200)[0])["access_token"]
    http("AccountFunction", "account-username", 200, ACCESS_TOKEN=access)
    http("AccountFunction", "account-phone-number", 200, ACCESS_TOKEN=access)
    changed = result(http("AccountFunction", "account-email", 200, ACCESS_TOKEN=access)[0])
    if (changed["username"], changed["email"]) != ("guntur_s", "guntur.saputro@example.com"):
        fail(f"identifier changes: {changed}")
    http("AccountFunction", "account-secret", 200, ACCESS_TOKEN=access)
    http("AccountFunction", "account", 200, ACCESS_TOKEN=access)
    http("AccountFunction", "account", 401, "UNAUTHENTICATED", ACCESS_TOKEN=other)

    # A reset by code (password.rs), on an account of its own: SES in moto carries the code.
    # (The events' bodies are JSON strings inside the event: their quotes are escaped.)
    sari = {"guntur@example.com": "sari@example.com", '\\"guntur\\"': '\\"sari\\"'}
    http("RegisterFunction", "register", 201, **sari)
    http("PasswordFunction", "password-forgot", 202, **sari)
    code = sent_code("sari@example.com")
    http("PasswordFunction", "password-reset", 200, CODE=code, **sari)
    http("PasswordFunction", "password-reset", 400, "INVALID_CODE", CODE=code, **sari)

    # Closing (account.rs), on an account of its own with nothing in it.
    leaving = {"guntur@example.com": "leaving@example.com", '\\"guntur\\"': '\\"leaving\\"'}
    http("RegisterFunction", "register", 201, **leaving)
    closing = result(http("LoginFunction", "login", 200, **leaving)[0])["access_token"]
    http("AccountFunction", "account-delete", 200, ACCESS_TOKEN=closing)
    http("AccountFunction", "account", 401, "UNAUTHENTICATED", ACCESS_TOKEN=closing)

    # The second factor (login.rs), on an account of its own: enrolled and confirmed, a login
    # in two steps, then removed. The codes are made from the secret as an app makes them.
    holder = {"guntur@example.com": "factor@example.com", '\\"guntur\\"': '\\"factor\\"'}
    http("RegisterFunction", "register", 201, **holder)
    access = result(http("LoginFunction", "login", 200, **holder)[0])["access_token"]
    app = Authenticator(result(http("AccountFunction", "mfa-totp", 200, ACCESS_TOKEN=access)[0])["secret"])
    confirmed = result(http("AccountFunction", "mfa-totp-confirm", 200, ACCESS_TOKEN=access,
                            OTP_CODE=app.next_code())[0])
    if len(confirmed["recovery_codes"]) != 10:
        fail(f"mfa-totp-confirm: {confirmed}")
    mfa_token = http("LoginFunction", "login", 401, "MFA_REQUIRED", **holder)[0]["mfa_token"]
    second = result(http("LoginFunction", "login-mfa", 200, MFA_TOKEN=mfa_token, OTP_CODE=app.next_code())[0])
    if second["token_type"] != "Bearer":
        fail(f"login-mfa: {second}")
    http("AccountFunction", "mfa-totp-delete", 200, ACCESS_TOKEN=access, OTP_CODE=app.next_code())
    http("LoginFunction", "login", 200, **holder)

    unused = sorted(p.stem for p in (ROOT / "events").glob("*.json") if p.stem not in USED)
    if unused:
        fail(f"sample events no step invokes: {unused}")
    print(f"sam-events: {CHECKS} checks passed, {len(USED)} events", flush=True)


if __name__ == "__main__":
    main()
