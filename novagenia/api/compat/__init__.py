"""Compatibility layers: the AUTOMATIC1111 web UI API (`/sdapi/v1/...`) and the OpenAI
images API (`/v1/...`), so clients people already own work unchanged.

Both are thin translators: they turn a foreign request into `GenerationRequest`s, submit
them to the JobBoard exactly as `POST /api/v1/jobs` does, wait for them, and translate
the finished jobs back into the foreign response shape.
"""
