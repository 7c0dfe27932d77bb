"""Validate payloads against the JSON Schemas of the AsyncAPI document `eap asyncapi` emits."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from eap.bridge.asyncapi import build_asyncapi


@cache
def _document() -> dict[str, Any]:
    return build_asyncapi()


@cache
def validator(message: str) -> Draft202012Validator:
    """A validator for the payload of ``components.messages.<message>``."""
    doc = _document()
    ref = doc["components"]["messages"][message]["payload"]["$ref"]
    schema = {"$ref": ref, "components": doc["components"]}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(message: str, payload: str | bytes) -> dict[str, Any]:
    """Parse ``payload`` as JSON and validate it; return the parsed object."""
    data: dict[str, Any] = json.loads(payload)
    errors = sorted(validator(message).iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return data
