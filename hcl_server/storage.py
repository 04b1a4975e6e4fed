"""Object storage: a local folder by default, any S3-compatible store when S3_BUCKET is set."""

from __future__ import annotations

import shutil
from functools import cached_property
from pathlib import Path

from flask import Flask, current_app


class LocalStorage:
    """Keys are relative paths under a root folder; writes go through a temporary file."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the root: {key}")
        return path

    def put_file(self, key: str, source: str | Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)

    def get_file(self, key: str, dest: str | Path) -> None:
        shutil.copyfile(self._path(key), dest)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        probe = self.root / ".ready"
        probe.write_text("ok")


class S3Storage:
    """An S3 bucket through one cached boto3 client honouring S3_ENDPOINT_URL."""

    def __init__(self, bucket: str, endpoint_url: str | None = None):
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None

    @cached_property
    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url)

    def put_file(self, key: str, source: str | Path) -> None:
        self.client.upload_file(str(source), self.bucket, key)

    def get_file(self, key: str, dest: str | Path) -> None:
        self.client.download_file(self.bucket, key, str(dest))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError:
            return False

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return sorted(keys)

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)


def init_storage(app: Flask) -> None:
    """Choose the storage for this app from its config."""
    if app.config["S3_BUCKET"]:
        app.extensions["storage"] = S3Storage(app.config["S3_BUCKET"], app.config["S3_ENDPOINT_URL"])
    else:
        app.extensions["storage"] = LocalStorage(app.config["STORAGE_DIR"])


def storage() -> LocalStorage | S3Storage:
    """The current app's storage."""
    return current_app.extensions["storage"]


def put_dir(prefix: str, folder: Path) -> None:
    """Upload every file of a folder under ``prefix``."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            storage().put_file(f"{prefix}/{path.relative_to(folder)}", path)


def get_dir(prefix: str, folder: Path) -> None:
    """Download every object under ``prefix`` into a folder."""
    for key in storage().list(prefix):
        target = folder / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        storage().get_file(key, target)
