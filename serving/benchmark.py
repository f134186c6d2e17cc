"""Load test of the scoring service on 127.0.0.1 only, bounded in requests and time.

Starts ``kanjiwrite serve`` on a free loopback port, then: one client sending requests
back to back; N concurrent clients for a fixed time. Requests are realistic: a 10-stroke
kanji, human-like strokes of about 30 points. In the same run it times the bare ONNX
inference of the same requests, so the HTTP overhead is visible.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import numpy as np

from kanjiwrite.datasets.augment import humanize
from kanjiwrite.datasets.kanjivg import load_pack

HOST = "127.0.0.1"


def requests(count: int = 64, strokes: int = 10, seed: int = 0) -> list[dict]:
    """Realistic bodies: attempts at 10-stroke kanji, strokes resampled to about 30 points."""
    from kanjiwrite.datasets.strokes import resample

    pack = load_pack()
    chars = [c for c in pack.chars if pack[c].stroke_count == strokes][:count]
    rng = np.random.default_rng(seed)
    bodies = []
    for char in chars:
        drawn, canvas = humanize(pack[char].strokes, rng)
        points = [np.round(resample(s, int(rng.integers(25, 36))), 1).tolist() for s in drawn]
        bodies.append(
            {"kanji": char, "strokes": points, "canvas": {"width": canvas[0], "height": canvas[1]}}
        )
    return bodies


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int) -> subprocess.Popen:
    env = dict(os.environ, KANJIWRITE_LOG_LEVEL="warning")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kanjiwrite.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError("the service did not become ready")


async def _client(
    url: str, bodies: list[dict], stop_at: float, max_requests: int, out: list, errors: list
):
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        i = 0
        while time.perf_counter() < stop_at and i < max_requests:
            started = time.perf_counter()
            try:
                response = await client.post(url, json=bodies[i % len(bodies)])
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            (out if ok else errors).append(time.perf_counter() - started)
            i += 1


def load(url: str, bodies: list[dict], clients: int, seconds: float, max_requests: int) -> dict:
    latencies: list[float] = []
    errors: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def main():
        await asyncio.gather(
            *(
                _client(url, bodies[i:] + bodies[:i], stop_at, max_requests, latencies, errors)
                for i in range(clients)
            )
        )

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_second": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def bare_inference(bodies: list[dict], repeats: int = 3) -> dict:
    """The same requests graded in-process with ONNX Runtime (one thread), no HTTP."""
    from kanjiwrite.models.decoding import grade
    from kanjiwrite.serving.app import Scorer
    from kanjiwrite.serving.settings import Settings

    scorer = Scorer(Settings())
    pack = scorer.pack
    samples = []
    for _ in range(repeats):
        for body in bodies:
            strokes = [np.array(s) for s in body["strokes"]]
            started = time.perf_counter()
            grade(
                scorer.predict,
                pack[body["kanji"]],
                strokes,
                (body["canvas"]["width"], body["canvas"]["height"]),
            )
            samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.median(samples)), "p99_ms": float(np.percentile(samples, 99))}


def run(workers: int = 2, seconds: float = 60.0, clients: int = 16) -> dict:
    bodies = requests()
    port = free_port()
    url = f"http://{HOST}:{port}/v1/score"
    server = start_server(port, workers)
    try:
        load(url, bodies, 1, 3.0, 200)  # warm-up
        sequential = load(url, bodies, 1, min(seconds, 20.0), 5000)
        concurrent = load(url, bodies, clients, seconds, 100_000)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "workers": workers,
        "sequential": sequential,
        "concurrent": concurrent,
        "bare_inference": bare_inference(bodies),
    }
