"""A local stand-in for the generation service's API, over real HTTP (`storyboard emulator`).

`Emulator` serves the two-step contract at `{url}` (e.g. `http://127.0.0.1:8765/v2`):

- `POST {url}/video/generations` checks `Authorization: Bearer <key>` (401), validates the
  body against the model profile as the service would (400 naming the field; `duration`
  may be a numeric string like "5"), and answers 201 with
  `{"id", "status": "queued", "meta": {"usage": {"credits_used", "usd_spent"}}}`. A create
  whose `Idempotency-Key` header was seen before (for the same key) gets the same answer,
  generation and all, with `Idempotent-Replayed: true`: nothing is made or billed again
  (`stats()["idempotent_replays"]`); the same key with another body is refused (422).
- `GET {url}/video/generations?generation_id=ID` (same auth) reports `queued` for the first
  tenth of `latency`, then `generating`, then `completed` with `video.url` once `latency`
  has passed *and* the clip exists (a slow render keeps it `generating`), or `error` with
  `error: {name, message}` (the published statuses). Unknown ids get 404.
- `GET /files/<id>.mp4` (no auth, like a CDN URL) serves the finished clip.
- `POST /v1/images/generations` (same auth): the image model, synchronous, as documented (see
  `images`): the still is drawn at once, answered by URL (`GET /files/<id>.png`) or inline.
- `GET /_emulator/stats` answers `stats()` as JSON.

Each accepted generation is made in a worker thread: its references (`image_urls`,
`video_urls`, `first_frame_image`) are fetched over HTTP(S) or decoded from `data:` URIs,
checked to be an image / a video, and composed into an animatic by the preview renderer.
A reference that cannot be fetched or decoded fails the generation at once, naming it.

Seeded faults (`faults="429=0.1,drop=0.05,…"`), hostile answers among them (unknown
statuses, pages instead of JSON, giant and trickling bodies, redirects, odd URL schemes, the
key echoed back, gzip), are described in `storyboard.emulator.faults`.

The parts: `faults` (the fault list and the seeded draws), `hostile` (the knobs of the
hostile answers), `validation` (create requests against model profiles), `references`
(fetching and checking references), `service`
(generations, statuses, the render worker) and `http` (`Emulator`: the service on a port,
the server and the request handler); apart, `s3` (`LocalS3`: moto's S3-compatible server,
for `storyboard emulator --s3`, so local reference files can be published without a cloud
account). The contract itself is written up in docs/service.md.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .faults import FAULTS, FAULTS_BY_REQUEST, parse_faults

if TYPE_CHECKING:
    from .http import Emulator
    from .service import Generation

__all__ = ["FAULTS", "FAULTS_BY_REQUEST", "Emulator", "Generation", "parse_faults"]

_LAZY = {"Emulator": "http", "Generation": "service"}  # the HTTP stack only when a server is made


__getattr__ = lazy_exports(__name__, _LAZY)
