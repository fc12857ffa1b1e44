#!/usr/bin/env python3
"""Minimal Lambda runtime (stdlib only) for `cargo lambda watch --only-lambda-apis`.
Answers every invocation with a 200 API Gateway v2 response whose body is SIZE bytes.

Usage: AWS_LAMBDA_RUNTIME_API=127.0.0.1:9000/.rt watch-500-fake-runtime.py SIZE MODE
  MODE reuse : /next and /response share one keep-alive connection      -> all 200
  MODE close : each /response on its own connection, closed after 200   -> emulator 500s
  MODE idle  : /response on a second keep-alive connection              -> trigger hangs
               until the next /response reuses that connection

What to report upstream (cargo-lambda 1.9.2, crates/cargo-lambda-watch): the emulator's runtime
API answers POST .../invocation/{id}/response with 200 before reading its body
(runtime/functions_router.rs, respond_to_next_invocation, hands the unread body to the waiting
trigger). hyper 1 (proto/h1/dispatch.rs) does not end a body whose last bytes arrive after the
response was written until the next request comes on that connection; when the runtime closes
the connection instead, the body ends in an "incomplete" error and the trigger answers its own
problem+json 500 (trigger_router.rs, create_buffered_response -> ServerError). Bodies that fit
in the emulator's first read (about 16 KB) always complete first, which is why small responses
never fail. Fix: collect the body before answering 200 in respond_to_next_invocation.
Run the emulator alone with `cargo lambda watch --only-lambda-apis -P 9000`, this script with
MODE close, and scripts/watch-500-repro.py against the emulator's URL of the function.
"""
import http.client, json, os, sys
api = os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9000/.rt")
hostport, _, base = api.partition("/"); base = "/" + base
h, p = hostport.split(":"); p = int(p)
size, mode = int(sys.argv[1]), sys.argv[2]
line = "x" * 79 + "\n"; body = (line * (size // 80 + 1))[:size]
payload = json.dumps({"statusCode": 200, "headers": {"content-type": "application/yaml"},
                      "multiValueHeaders": {}, "body": body, "isBase64Encoded": False,
                      "cookies": []}).encode()
nxt = http.client.HTTPConnection(h, p)
other = http.client.HTTPConnection(h, p)
while True:
    nxt.request("GET", base + "/2018-06-01/runtime/invocation/next")
    r = nxt.getresponse(); r.read()
    if r.status != 200:
        continue
    rid = r.getheader("lambda-runtime-aws-request-id")
    c = nxt if mode == "reuse" else other if mode == "idle" else http.client.HTTPConnection(h, p)
    c.request("POST", base + f"/2018-06-01/runtime/invocation/{rid}/response", body=payload,
              headers={"content-type": "application/json"})
    c.getresponse().read()
    if mode == "close":
        c.close()
