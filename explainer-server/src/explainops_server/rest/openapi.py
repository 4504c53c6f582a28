"""The OpenAPI document and the offline `/docs` page.

Request bodies of the fast-path operations are read by the handlers themselves (so an error names the
cell at fault), so FastAPI does not see them as parameters: they are declared here from the same
contract models, and `complete_schemas` puts those models into `components`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from explainops_server.service.contract import ErrorBody

REF = "#/components/schemas/{model}"
DOCS_ASSETS = "/docs/assets"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 405, 409, 413, 415, 422)
}
# The only 5xx answered on purpose: overload or a deadline, never a fault of the request.
ERROR_RESPONSES[503] = {
    "model": ErrorBody,
    "description": "Try again later: explainer_busy, explanation_timeout (past the configured explain "
    "timeout, its worker stopped), explainer_unavailable (the explainer sidecar does not answer), "
    "recorder_busy or store_error",
    "headers": {
        "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
    },
}

V2_REQUEST = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype", "data"],
                            "properties": {
                                "name": {"type": "string"},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string", "enum": ["FP64", "FP32", "INT64", "INT32"]},
                                "parameters": {"type": "object"},
                                "data": {"type": "array"},
                            },
                        },
                    },
                    "outputs": {"type": "array", "items": {"type": "object"}},
                },
            }
        },
        "application/octet-stream": {
            "schema": {"type": "string", "format": "binary"},
            "description": "JSON header of inference-header-content-length bytes, then binary tensors",
        },
    },
}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def complete_schemas(document: dict[str, Any], models: list[type[BaseModel]]) -> dict[str, Any]:
    """Add `models` (and the models they use) to `components.schemas` where FastAPI did not."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        schema = model.model_json_schema(ref_template=REF, mode="validation")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.setdefault(model.__name__, schema)
    return document


def install_offline_docs(app: FastAPI) -> None:
    """`/docs` from Swagger UI assets shipped in a Python package: nothing is fetched from a CDN."""
    import swagger_ui_bundle

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), name="docs-assets")

    async def docs(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    app.add_route("/docs", docs, include_in_schema=False)
