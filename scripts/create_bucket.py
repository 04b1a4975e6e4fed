"""Create S3_BUCKET at S3_ENDPOINT_URL if it does not exist (the compose set's `createbucket` step).

Waits up to BUCKET_WAIT_S (60) for the storage to answer; exits 0 once the bucket exists, 1 if
the storage never answered or refused. Credentials come from the usual AWS_* variables.
"""

from __future__ import annotations

import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


def main() -> int:
    bucket = os.environ["S3_BUCKET"]
    endpoint = os.environ.get("S3_ENDPOINT_URL") or None
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + float(os.environ.get("BUCKET_WAIT_S", "60"))
    while True:
        try:
            client.head_bucket(Bucket=bucket)
            print(f"bucket {bucket} exists")
            return 0
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                print(f"bucket {bucket}: {exc}", file=sys.stderr)
                return 1
            region = client.meta.region_name
            if region and region != "us-east-1":
                client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
            else:
                client.create_bucket(Bucket=bucket)
            print(f"bucket {bucket} created")
            return 0
        except BotoCoreError as exc:
            if time.monotonic() > deadline:
                print(f"the storage at {endpoint} did not answer: {exc}", file=sys.stderr)
                return 1
            time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
