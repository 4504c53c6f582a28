"""The predictor's side of the sidecar split: explanations are computed by the explainer sidecar
(`serve --role explainer`, on localhost), so explanation load runs on the sidecar's own CPU budget and
never holds the predictor's interpreter. The predictor keeps everything else: prediction ids, records,
the explanation cache, metrics and feedback."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

from explainops_server.errors import ExplainerUnavailable, ExplainOpsError, error_class

# The sidecar enforces the explanation deadline itself and answers first; this margin only covers a
# sidecar that hangs.
DEADLINE_MARGIN_SECONDS = 5.0
READY_TIMEOUT_SECONDS = 1.0


class ExplainerClient:
    """Calls the sidecar's V1 `:explain`, ALE and readiness routes; its errors are raised again as the
    same error of the one hierarchy, so a client sees the sidecar's 4xx/503 unchanged."""

    def __init__(self, base_url: str, model_name: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self._timeout = timeout + DEADLINE_MARGIN_SECONDS
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # created on the serving loop, where it is used
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout, trust_env=False)
        return self._client

    async def explain(self, rows: np.ndarray | list[list[Any]]) -> list[dict[str, Any]]:
        """`rows` as the sidecar's V1 route reads them: original values (category strings, not codes)."""
        instances = rows.tolist() if isinstance(rows, np.ndarray) else rows
        body = await self._call("POST", f"/v1/models/{self.model_name}:explain", json={"instances": instances})
        return list(body["explanations"])

    async def explain_global(self) -> dict[str, Any]:
        body = await self._call("GET", f"/v1/models/{self.model_name}/explanations/ale")
        return dict(body["explanation"])

    async def ready(self) -> bool:
        try:
            answer = await self._http().get("/v2/health/ready", timeout=READY_TIMEOUT_SECONDS)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = await self._http().request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ExplainerUnavailable(
                f"the explainer sidecar at {self.base_url} does not answer ({type(exc).__name__})", retry_after=5
            ) from None
        if answer.status_code == 200:
            return answer.json()
        raise _sidecar_error(answer)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _sidecar_error(answer: httpx.Response) -> ExplainOpsError:
    try:
        body = answer.json()
        cls, detail = error_class(str(body["error"])), str(body["detail"])
    except (ValueError, KeyError, TypeError):
        return ExplainerUnavailable(f"the explainer sidecar answered HTTP {answer.status_code}", retry_after=5)
    retry_after = answer.headers.get("Retry-After")
    return cls(detail, retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None)
