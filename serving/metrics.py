"""Prometheus metrics. With several workers, ``kanjiwrite serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` before they start: every worker writes its values there
(prometheus_client's multi-process mode) and a scrape of any worker sums them all."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess


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
        self.grading = Histogram(
            "kanjiwrite_grading_seconds",
            "Grading time per graded request: batch building, ONNX inference and decoding "
            "(a practice review: every inference call of its replay)",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
            registry=self.registry,
        )
        self.verdicts = Counter(
            "kanjiwrite_verdicts_total", "Stroke verdicts", ["verdict"], registry=self.registry
        )
        self.overrides = Counter(
            "kanjiwrite_overrides_total",
            "Strokes learners said were right after a rejection, per kanji (known kanji only)",
            ["kanji"],
            registry=self.registry,
        )

    def scrape_registry(self) -> CollectorRegistry:
        """What a scrape reads: every worker's values in multi-process mode, else ours."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return registry
        return self.registry
