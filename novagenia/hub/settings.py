"""Which Hub to talk to, and with which token."""

from __future__ import annotations

from dataclasses import dataclass

from huggingface_hub import HfApi, get_token


@dataclass(frozen=True)
class HubSettings:
    endpoint: str | None = None  # None: huggingface_hub's default
    token: str | None = None  # None: HF_TOKEN or the stored login

    def api(self) -> HfApi:
        return HfApi(endpoint=self.endpoint, token=self.token)

    @property
    def has_token(self) -> bool:
        return bool(self.token or get_token())
