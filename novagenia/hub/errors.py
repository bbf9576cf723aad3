"""The Model Hub's errors: each one a message for people and the HTTP status to answer
with; `hub_errors` turns huggingface_hub's exceptions into them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


class HubError(Exception):
    """A Hub request the user can act on; `status_code` is its HTTP status."""

    status_code = 502


class HubRepoNotFound(HubError):
    status_code = 404


class HubAuthRequired(HubError):
    status_code = 401


class HubForbidden(HubError):
    status_code = 403


class HubConflict(HubError):
    status_code = 409


class HubRefused(HubError):
    status_code = 422


class HubDiskFull(HubError):
    status_code = 507


class HubUnavailable(HubError):
    status_code = 503


class DownloadNotFound(HubError):
    status_code = 404


@contextmanager
def hub_errors(repo: str, has_token: bool = False) -> Iterator[None]:
    """Turns huggingface_hub's exceptions into `HubError`s with a message for people."""
    try:
        yield
    except HubError:
        raise
    except OfflineModeIsEnabled as exc:
        raise HubUnavailable("the Hub is off (HF_HUB_OFFLINE=1): no downloads") from exc
    except GatedRepoError as exc:
        if has_token:
            raise HubForbidden(
                f"{repo} is gated and this token has no access: accept its license on the Hub"
            ) from exc
        raise HubAuthRequired(
            f"{repo} is gated: accept its license on the Hub and set HF_TOKEN on the server"
        ) from exc
    except RevisionNotFoundError as exc:
        raise HubRepoNotFound(f"{repo} has no such revision") from exc
    except RepositoryNotFoundError as exc:
        raise HubRepoNotFound(
            f"no Hub repo {repo} (or it is private and HF_TOKEN has no access)"
        ) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        if status == 403:
            raise HubForbidden(f"the Hub refused access to {repo}") from exc
        raise HubUnavailable(f"the Hub answered {status} for {repo}") from exc
    except httpx2.HTTPError as exc:
        raise HubUnavailable(f"the Hub cannot be reached ({type(exc).__name__})") from exc
