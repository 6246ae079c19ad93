"""Turning local reference files into URLs the generation service can fetch.

Routes, tried in order for each local file:
1. inline `data:` URI, where the model profile accepts one for that field and the file is
   small enough (and the storyboard has not turned inline data off);
2. upload to S3-compatible storage under its content hash (uploaded once, ever), sent as a
   presigned GET URL. The storage is the storyboard's `publish.s3`; without one, the bucket
   named by the environment variable STORYBOARD_S3_BUCKET (so a machine, a CI job or the
   local S3 server of `storyboard emulator --s3` can supply it without editing the file).
   boto3 reads the endpoint (AWS_ENDPOINT_URL_S3) and credentials from the environment too.
URLs written in the storyboard are sent as they are. A local file with no route is a
validation error found before anything is paid (see `problems`).
"""
from __future__ import annotations

import asyncio
import base64
import mimetypes
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import Problem, PublishError
from ..files import file_sha256
from ..media import sniff
from ..model import FrameOf, PublishSettings, Reference, S3Settings
from ..planning.plans import ShotPlan

BUCKET_VARIABLE = "STORYBOARD_S3_BUCKET"
NO_ROUTE_HINT = f"add `publish: {{s3: {{bucket: ...}}}}` to the storyboard or set {BUCKET_VARIABLE}"

_MIME = {"PNG image": "image/png", "JPEG image": "image/jpeg", "GIF image": "image/gif", "WebP image": "image/webp",
         "BMP image": "image/bmp", "MP4/MOV video": "video/mp4", "QuickTime video": "video/quicktime",
         "Matroska/WebM video": "video/webm"}


def _mime(path: Path) -> str:
    _, description = sniff(path)
    return _MIME.get(description) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class Publisher:
    def __init__(self, settings: PublishSettings):
        bucket = os.environ.get(BUCKET_VARIABLE, "").strip()
        self.settings = replace(settings, s3=S3Settings(bucket=bucket)) if settings.s3 is None and bucket else settings
        self._client: Any = None
        self._published: dict[str, str] = {}  # sha256 -> object key already in the bucket

    def can_inline(self, item: ShotPlan, field: str, path: Path) -> bool:
        profile = item.profile
        return (
            self.settings.data_uri
            and field in profile.data_uri_fields
            and path.stat().st_size <= profile.data_uri_max_bytes
            and sniff(path)[0] == "image"
        )

    def problems(self, item: ShotPlan, document: Any) -> list[Problem]:
        """Local files of this shot that have no way to reach the service."""
        if self.settings.s3 is not None:
            return []
        found = []
        for field, ref in _local_files(item):
            if ref.path is not None and not self.can_inline(item, field, ref.path):
                found.append(
                    document.problem(
                        ref.where,
                        f"{ref.source!r} is a local file and the service fetches references by URL: "
                        f"{NO_ROUTE_HINT}, or use an https URL",
                    )
                )
        can_inline_frames = self.settings.data_uri and "first_frame_image" in item.profile.data_uri_fields
        if isinstance(item.shot.first_frame, FrameOf) and not can_inline_frames:
            found.append(
                document.problem(
                    item.shot.first_frame.where,
                    f"a first frame taken from another shot must be uploaded: {NO_ROUTE_HINT}",
                )
            )
        if item.first_still is not None and item.shot.still is not None and not can_inline_frames:
            found.append(document.problem(item.shot.still.where,
                                          f"a still used as the first frame must be uploaded: {NO_ROUTE_HINT}"))
        return found

    async def url(self, item: ShotPlan, field: str, path: Path) -> str:
        if self.can_inline(item, field, path):
            encoded = base64.b64encode(path.read_bytes()).decode("ascii")
            return f"data:{_mime(path)};base64,{encoded}"
        if self.settings.s3 is None:
            raise PublishError(f"no way to publish {path.name}: {NO_ROUTE_HINT}")
        return await asyncio.to_thread(self._upload, self.settings.s3, path)

    def _upload(self, s3: S3Settings, path: Path) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._s3_client(s3)
        digest = file_sha256(path)
        key = self._published.get(digest) or f"{s3.prefix}{digest}{path.suffix.lower()}"
        try:
            if digest not in self._published:
                try:
                    client.head_object(Bucket=s3.bucket, Key=key)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                        raise
                    client.upload_file(str(path), s3.bucket, key, ExtraArgs={"ContentType": _mime(path)})
                self._published[digest] = key
            return client.generate_presigned_url(
                "get_object", Params={"Bucket": s3.bucket, "Key": key}, ExpiresIn=s3.expires
            )
        except (BotoCoreError, ClientError) as error:
            raise PublishError(f"uploading {path.name} to s3://{s3.bucket}/{key} failed: {error}") from None

    def _s3_client(self, s3: S3Settings) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=s3.endpoint,
                region_name=s3.region,
                config=Config(signature_version="s3v4", retries={"max_attempts": 5, "mode": "standard"}),
            )
        return self._client


def _local_files(item: ShotPlan) -> list[tuple[str, Reference]]:
    if item.still:  # an image request sends only its references
        return [("image_urls", ref) for ref in item.references if ref.path is not None]
    found = [("image_urls" if ref.kind == "image" else "video_urls", ref) for ref in item.shot.all_references()]
    if isinstance(item.shot.first_frame, Reference):
        found.append(("first_frame_image", item.shot.first_frame))
    return [(field, ref) for field, ref in found if ref.path is not None]
