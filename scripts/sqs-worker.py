#!/usr/bin/env python3
"""Feeds an SQS queue to the `transfer-worker` function as Lambda's SQS trigger would.

    scripts/sqs-worker.py QUEUE_URL [--invoke http://127.0.0.1:9000] [--function transfer-worker]

Gathers batches as the template's trigger does (up to 100 messages, for up to a second after
the first arrives; long polling, 10 per receive), invokes the function with an SQS event
through `cargo lambda watch`'s invoke API (what `cargo lambda invoke transfer-worker
--data-file …` sends), then deletes every message the function did not report in
`batchItemFailures`; those become visible again and are retried, as on AWS. Needs boto3 and
the queue's endpoint in AWS_ENDPOINT_URL_SQS (a local SQS such as moto's server).
"""
import argparse
import json
import sys
import time
import urllib.request

import boto3

# The template's trigger: BatchSize and MaximumBatchingWindowInSeconds.
BATCH_SIZE = 100
BATCHING_WINDOW_SECONDS = 1.0


def event_for(messages, queue_arn):
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", str(int(time.time() * 1000))),
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def invoke(url, function, payload):
    req = urllib.request.Request(
        f"{url}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read() or b"{}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("queue_url")
    ap.add_argument("--invoke", default="http://127.0.0.1:9000")
    ap.add_argument("--function", default="transfer-worker")
    args = ap.parse_args()
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=args.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    print(f"sqs-worker: {args.queue_url} -> {args.function}", flush=True)
    while True:
        messages = []
        window_ends = None
        while len(messages) < BATCH_SIZE and (window_ends is None or time.monotonic() < window_ends):
            out = sqs.receive_message(
                QueueUrl=args.queue_url, MaxNumberOfMessages=min(10, BATCH_SIZE - len(messages)),
                WaitTimeSeconds=1, AttributeNames=["All"], VisibilityTimeout=30,
            )
            received = out.get("Messages", [])
            if received and window_ends is None:
                window_ends = time.monotonic() + BATCHING_WINDOW_SECONDS
            messages.extend(received)
            if not received and window_ends is None:
                continue
        if not messages:
            continue
        try:
            response = invoke(args.invoke, args.function, event_for(messages, arn))
        except Exception as e:  # the function failed as a whole: every message is retried
            print(f"sqs-worker: invoke failed: {e}", file=sys.stderr, flush=True)
            continue
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=args.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])],
            )
        print(f"sqs-worker: {len(done)} settled, {len(failed)} to retry", flush=True)


if __name__ == "__main__":
    main()
