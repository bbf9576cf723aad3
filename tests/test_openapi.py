"""The web app's API types are generated from `web/openapi.json` (openapi-typescript, in
its build); this keeps that file the server's own document."""

from __future__ import annotations

import json
from pathlib import Path

from novagenia.api.openapi import openapi_document

COMMITTED = Path(__file__).resolve().parents[1] / "web" / "openapi.json"


def test_the_web_apps_openapi_document_is_current():
    current = json.loads(json.dumps(openapi_document()))
    assert json.loads(COMMITTED.read_text()) == current, (
        "web/openapi.json is stale: run `python -m novagenia.api.openapi > web/openapi.json`"
    )
