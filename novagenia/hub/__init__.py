"""The Model Hub: find text-to-image diffusers pipelines on the Hugging Face Hub and
install them into the models dir, safetensors only, with progress, cancellation, resume.

Downloads run in one named Ray actor (`HubDownloader`) rather than in the ingress
replica that received the POST, so they outlive that request and that replica; and not
in the JobBoard, whose event loop must stay free for jobs. A download lands in
`<models_dir>/.partial/<org>/<name>/` and is renamed into place only when complete, so
a half-downloaded model never shows as installed; files already complete there are not
fetched again when the same repo is requested again (huggingface_hub 2.4 discards the
partial bytes of the file that was in flight, but resumes a dropped connection within
one download with an HTTP Range request).

Modules: `protocol` (requests and answers), `errors` (HubError and its HTTP statuses),
`settings` (which Hub, which token), `search`, `plan` (what a download fetches, or why
it is refused), `transfer` (fetching the files, install), `downloader` (downloads by id
and their actor). The names below are kept importable from `novagenia.hub`.
"""

from novagenia.hub.downloader import HubDownloads, failure_message, get_downloader
from novagenia.hub.errors import (
    HubAuthRequired,
    HubConflict,
    HubDiskFull,
    HubError,
    HubRefused,
    HubRepoNotFound,
    HubUnavailable,
)
from novagenia.hub.plan import partial_dir, plan_download
from novagenia.hub.protocol import (
    ACTIVE,
    Download,
    DownloadList,
    DownloadRequest,
    DownloadStatus,
    HubSearch,
    HubSort,
)
from novagenia.hub.search import SEARCH_TIMEOUT_S, search_models, search_within
from novagenia.hub.settings import HubSettings

__all__ = [
    "ACTIVE",
    "SEARCH_TIMEOUT_S",
    "Download",
    "DownloadList",
    "DownloadRequest",
    "DownloadStatus",
    "HubAuthRequired",
    "HubConflict",
    "HubDiskFull",
    "HubDownloads",
    "HubError",
    "HubRefused",
    "HubRepoNotFound",
    "HubSearch",
    "HubSettings",
    "HubSort",
    "HubUnavailable",
    "failure_message",
    "get_downloader",
    "partial_dir",
    "plan_download",
    "search_models",
    "search_within",
]
