"""The shared cache in force on this machine: the storyboard's `cache:` block, each field overridden
by its environment variable (so a CI job can point at its bucket without editing the file)."""
from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import replace

from ..errors import UsageError
from ..model import CacheSettings, SharedStore

BUCKET_VARIABLE = "STORYBOARD_CACHE_BUCKET"
PREFIX_VARIABLE = "STORYBOARD_CACHE_PREFIX"
ENDPOINT_VARIABLE = "STORYBOARD_CACHE_ENDPOINT"
REGION_VARIABLE = "STORYBOARD_CACHE_REGION"
TAKEOVER_VARIABLE = "STORYBOARD_CACHE_TAKEOVER_AFTER"
SWITCH_VARIABLE = "STORYBOARD_CACHE"  # `off`: this machine uses its local store only
VARIABLES = (BUCKET_VARIABLE, PREFIX_VARIABLE, ENDPOINT_VARIABLE, REGION_VARIABLE, TAKEOVER_VARIABLE, SWITCH_VARIABLE)
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")  # as the schema says
MIN_TAKEOVER_SECONDS = 60


def shared_settings(board: CacheSettings, environ: Mapping[str, str] | None = None) -> CacheSettings:
    """`board` with the environment's overrides; `s3` is None when no bucket is set, or the cache is off.
    A variable with a value that cannot be used is a UsageError naming it."""
    env = os.environ if environ is None else environ
    switch = env.get(SWITCH_VARIABLE, "").strip().lower()
    if switch in ("off", "0", "false", "no"):
        return CacheSettings()
    if switch not in ("", "on", "1", "true", "yes"):
        raise UsageError(f"{SWITCH_VARIABLE}={env[SWITCH_VARIABLE]!r}: say `off` to use the local store only, or leave it unset")
    store = board.s3
    bucket = env.get(BUCKET_VARIABLE, "").strip()
    if bucket:
        if not BUCKET_NAME.match(bucket):
            raise UsageError(f"{BUCKET_VARIABLE}={bucket!r} is not a bucket name: 3 to 63 lower-case letters, digits, "
                             "dots and hyphens, starting and ending with a letter or digit")
        store = replace(store, bucket=bucket) if store else SharedStore(bucket=bucket)
    if store is None:
        return replace(board, s3=None)
    if (prefix := env.get(PREFIX_VARIABLE)) is not None:
        if prefix.startswith("/"):
            raise UsageError(f"{PREFIX_VARIABLE}={prefix!r} must not start with '/': it is a key prefix inside the bucket")
        store = replace(store, prefix=prefix)
    if endpoint := env.get(ENDPOINT_VARIABLE, "").strip():
        if not re.match(r"^https?://", endpoint):
            raise UsageError(f"{ENDPOINT_VARIABLE}={endpoint!r} must be an http:// or https:// URL")
        store = replace(store, endpoint=endpoint)
    if region := env.get(REGION_VARIABLE, "").strip():
        store = replace(store, region=region)
    takeover = board.takeover_after
    if text := env.get(TAKEOVER_VARIABLE, "").strip():
        try:
            takeover = float(text)
        except ValueError:
            takeover = math.nan
        if not math.isfinite(takeover) or takeover < MIN_TAKEOVER_SECONDS:
            raise UsageError(f"{TAKEOVER_VARIABLE}={text!r} must be a number of seconds, at least {MIN_TAKEOVER_SECONDS}")
    prefix = store.prefix if not store.prefix or store.prefix.endswith("/") else f"{store.prefix}/"
    return CacheSettings(s3=replace(store, prefix=prefix), takeover_after=takeover)
