"""A local, loopback-only server speaking the part of the Hugging Face Hub API that
huggingface_hub 2.4 uses for search and per-file downloads, so Model Hub tests never
reach the internet.

Routes, as `hf_api.py` and `file_download.py` call them:
- `GET /api/models?search=&filter=&pipeline_tag=&sort=&limit=&expand=` (list_models)
- `GET /api/models/{org}/{name}[/revision/{rev}]?blobs=true` (model_info with sizes)
- `HEAD|GET /{org}/{name}/resolve/{rev}/{path}` (hf_hub_download): `X-Repo-Commit`,
  `ETag`/`X-Linked-Etag`/`X-Linked-Size`, `Content-Length`, and `Range` → 206.
Errors carry `X-Error-Code` (RepoNotFound, GatedRepo, EntryNotFound) as the Hub does.

Every request is logged (method, path, Range header, bytes sent) for assertions, and a
file can be made to drop the connection once mid-body, or to pause mid-body until a test
releases it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK = 64 * 1024
TOKEN = "hf_test_token"


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, bytes]
    gated: bool = False
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=lambda: ["diffusers", "text-to-image", "safetensors"])
    declared_sizes: dict[str, int] = field(default_factory=dict)  # sizes the API claims
    sha: str = ""

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.repo_id.encode())
        for name in sorted(self.files):
            digest.update(name.encode() + hashlib.sha1(self.files[name]).digest())
        self.sha = digest.hexdigest()

    @classmethod
    def from_dir(cls, repo_id: str, root: Path, **kwargs) -> HubRepo:
        files = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }
        return cls(repo_id, files, **kwargs)

    @property
    def pipeline_class(self) -> str | None:
        index = self.files.get("model_index.json")
        return json.loads(index).get("_class_name") if index else None

    def summary(self) -> dict:
        return {
            "_id": self.sha[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "sha": self.sha,
            "downloads": self.downloads,
            "likes": self.likes,
            "tags": self.tags,
            "lastModified": "2026-01-02T03:04:05.000Z",
            "createdAt": "2025-01-02T03:04:05.000Z",
            "private": False,
            "gated": "manual" if self.gated else False,
            "pipeline_tag": "text-to-image",
            "library_name": "diffusers",
            "config": {"diffusers": {"_class_name": self.pipeline_class}},
        }

    def info(self, with_sizes: bool) -> dict:
        siblings = []
        for name, data in sorted(self.files.items()):
            sibling: dict = {"rfilename": name}
            if with_sizes:
                sibling["size"] = self.declared_sizes.get(name, len(data))
                sibling["blobId"] = hashlib.sha1(data).hexdigest()
                if name.endswith(".safetensors"):
                    sha256 = hashlib.sha256(data).hexdigest()
                    sibling["lfs"] = {"sha256": sha256, "size": len(data), "pointerSize": 134}
            siblings.append(sibling)
        return {**self.summary(), "siblings": siblings}

    def etag(self, name: str) -> str:
        data = self.files[name]
        if name.endswith(".safetensors"):
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(data).hexdigest()


@dataclass
class LoggedRequest:
    method: str
    path: str
    range: str | None
    sent: int = 0


class LocalHub:
    """The server's state: repos, the request log, and the faults to inject."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.log: list[LoggedRequest] = []
        self.drop_once: set[str] = set()  # "org/name/path": close mid-body on first GET
        self.pause: dict[str, threading.Event] = {}  # "org/name/path": wait mid-body
        self.paused: dict[str, threading.Event] = {}  # set once the pause is reached
        self.lock = threading.Lock()
        self.url = ""

    def add(self, repo: HubRepo) -> HubRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def gets(self, repo_id: str, name: str) -> list[LoggedRequest]:
        """The GETs of one file's body, in order."""
        path = f"/{repo_id}/resolve/{self.repos[repo_id].sha}/{name}"
        with self.lock:
            return [r for r in self.log if r.method == "GET" and r.path == path]

    def pause_file(self, repo_id: str, name: str) -> threading.Event:
        """The file's body stops after its first chunk until the returned event is set."""
        key = f"{repo_id}/{name}"
        self.pause[key] = threading.Event()
        self.paused[key] = threading.Event()
        return self.pause[key]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: LocalHub  # set on the subclass made per server

    def log_message(self, *_: object) -> None:
        return None

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        entry = LoggedRequest(self.command, path, self.headers.get("Range"))
        with self.hub.lock:
            self.hub.log.append(entry)
        query = parse_qs(url.query)
        if path == "/api/models":
            self._json(self._search(query))
            return
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path)
        if match:
            repo = self.hub.repos.get(match.group(1))
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return
            self._json(repo.info(with_sizes="blobs" in query))
            return
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match:
            self._file(match.group(1), match.group(2), match.group(3), head, entry)
            return
        self._error(404, None, "Not found")

    def _search(self, query: dict[str, list[str]]) -> list[dict]:
        text = (query.get("search") or [""])[0].lower()
        wanted_tags = set(query.get("filter", []))
        pipeline_tag = (query.get("pipeline_tag") or [None])[0]
        found = [
            repo
            for repo in self.hub.repos.values()
            if text in repo.repo_id.lower()
            and wanted_tags <= set(repo.tags)
            and (pipeline_tag is None or pipeline_tag in repo.tags)
        ]
        sort = (query.get("sort") or ["downloads"])[0]
        found.sort(
            key=lambda repo: -getattr(repo, sort if sort in ("downloads", "likes") else "downloads")
        )
        limit = int((query.get("limit") or ["1000"])[0])
        return [repo.summary() for repo in found[:limit]]

    def _file(
        self, repo_id: str, revision: str, name: str, head: bool, entry: LoggedRequest
    ) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        if repo.gated and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._error(401, "GatedRepo", "Access to this model is restricted")
            return
        if revision not in ("main", repo.sha) or name not in repo.files:
            self._error(404, "EntryNotFound", "Entry not found")
            return
        data = repo.files[name]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not head:
            start = int(match.group(1))
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Repo-Commit", repo.sha)
        self.send_header("ETag", f'"{repo.etag(name)}"')
        if name.endswith(".safetensors"):
            self.send_header("X-Linked-Etag", f'"{repo.etag(name)}"')
            self.send_header("X-Linked-Size", str(len(data)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        self._send_body(f"{repo_id}/{name}", body, entry)

    def _send_body(self, key: str, body: bytes, entry: LoggedRequest) -> None:
        drop = False
        with self.hub.lock:
            if key in self.hub.drop_once:
                self.hub.drop_once.discard(key)
                drop = True
        for offset in range(0, len(body), CHUNK):
            if drop and offset >= len(body) // 2:
                self.close_connection = True
                self.connection.shutdown(2)  # mid-body, as a dropped connection does
                return
            if offset == CHUNK and key in self.hub.pause:
                self.hub.paused[key].set()
                self.hub.pause.pop(key).wait()
            self.wfile.write(body[offset : offset + CHUNK])
            entry.sent += len(body[offset : offset + CHUNK])

    def _json(self, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str | None, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@contextmanager
def local_hub() -> Iterator[LocalHub]:
    """Serves a `LocalHub` on 127.0.0.1 (a free port) for the duration."""
    hub = LocalHub()
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        for event in list(hub.pause.values()):
            event.set()
        server.shutdown()
        server.server_close()
