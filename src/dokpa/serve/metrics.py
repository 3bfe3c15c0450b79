"""Prometheus metrics of the server (`GET /metrics`), on a registry of its own per app.

Names follow vLLM's where one exists, so existing dashboards need little change:
request counts by endpoint and status, time to first token, inter-token latency, end-to-end latency,
prompt and generated token counts, and the running and waiting request gauges.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServerMetrics:
    """The server's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "dokpa_requests", "HTTP requests by endpoint and status code", ["endpoint", "status"], registry=r
        )
        self.ttft = Histogram(
            "dokpa_time_to_first_token_seconds", "Time to first token", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.itl = Histogram(
            "dokpa_inter_token_latency_seconds",
            "Time between two streamed tokens of one request",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            "dokpa_e2e_request_latency_seconds", "Request latency", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.prompt_tokens = Counter("dokpa_prompt_tokens", "Prompt tokens processed", registry=r)
        self.generation_tokens = Counter("dokpa_generation_tokens", "Tokens generated", registry=r)
        self.running = Gauge("dokpa_num_requests_running", "Requests in the running batch", registry=r)
        self.waiting = Gauge("dokpa_num_requests_waiting", "Requests waiting for a slot", registry=r)

    def render(self, running: int, waiting: int) -> bytes:
        """The exposition text, with the gauges set to the engine's current counts."""
        self.running.set(running)
        self.waiting.set(waiting)
        return generate_latest(self.registry)
