"""`/v2/health/live` answers while an Anchors explanation is still in flight (ordering, not timing)."""

from __future__ import annotations

import asyncio
import threading

import httpx

from .conftest import MODEL


class InFlightProbe:
    """Wraps the real Anchors explainer: signals when it starts and finishes its computation, and holds
    the result until the test releases it, so the request is provably still in flight."""

    def __init__(self, real) -> None:
        self.real = real
        self.name, self.config_key, self.summarise = real.name, real.config_key, real.summarise
        self.started = threading.Event()
        self.computed = threading.Event()
        self.release = threading.Event()

    def explain_row(self, row):
        self.started.set()
        result = self.real.explain_row(row)
        self.computed.set()
        assert self.release.wait(120)
        return result


def test_liveness_answers_while_anchors_runs(run_server, example_model):
    server = run_server(example_model, explainer="anchor_tabular", explain_timeout=300)
    probe = InFlightProbe(server.dataplane.explainer)
    server.dataplane.explainer = probe
    order: list[str] = []

    async def scenario():
        async with httpx.AsyncClient(base_url=server.url, timeout=300) as http:
            explain = asyncio.create_task(
                http.post(
                    f"/v1/models/{MODEL}:explain", json={"instances": example_model.holdout[:1].tolist()}
                )
            )
            await asyncio.to_thread(probe.started.wait, 120)
            order.append("anchors started")
            live = await http.get("/v2/health/live")
            ready = await http.get("/v2/health/ready")
            order.append("health answered")
            assert not explain.done()
            order.append("explain still in flight")
            probe.release.set()
            response = await explain
            order.append("explain answered")
            return live, ready, response

    live, ready, response = asyncio.run(scenario())
    assert order == ["anchors started", "health answered", "explain still in flight", "explain answered"]
    assert live.json() == {"live": True} and ready.status_code == 200
    assert response.status_code == 200 and response.json()["explanations"][0]["precision"] >= 0.95
