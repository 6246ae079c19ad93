"""The clip cache shared by every machine that renders a storyboard, on S3-compatible storage.

The parts: `settings` (the `cache:` block and the STORYBOARD_CACHE_* variables), `remote` (the
objects, by request hash), `claims` (who creates each request, so it is paid for once across
machines), and for `storyboard cache status|gc`: `references` (what a folder's storyboards still
reference), `local` (the local store) and `bucket` (the shared one). The render's side of it lives
with the generation stage (generate/shared.py).
"""
