"""Prometheus metrics of one worker process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kanjiwrite_requests_total",
            "HTTP requests",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kanjiwrite_request_seconds",
            "Request latency",
            ["route"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
            registry=self.registry,
        )
        self.inference = Histogram(
            "kanjiwrite_inference_seconds",
            "ONNX inference latency",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
            registry=self.registry,
        )
        self.verdicts = Counter(
            "kanjiwrite_verdicts_total", "Stroke verdicts", ["verdict"], registry=self.registry
        )
