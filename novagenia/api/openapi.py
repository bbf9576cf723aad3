"""The OpenAPI document without a running server, for the web app's generated types:
`python -m novagenia.api.openapi > web/openapi.json` (a test fails when it is stale)."""

from __future__ import annotations

import json
import sys
from typing import Any

from novagenia.api.deps import AppContext
from novagenia.api.ingress import create_api
from novagenia.config import AppArgs


def openapi_document() -> dict[str, Any]:
    """The document of the default configuration (routes do not depend on settings)."""
    context = AppContext(
        args=AppArgs(),
        board=None,
        registry=None,
        store=None,
        fanout=None,
        downloader=None,
        loras=None,
        inputs=None,
    )
    return create_api(context).openapi()


def main() -> None:
    json.dump(openapi_document(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
