"""Load test of the scoring service on 127.0.0.1 only, bounded in requests and time.

Starts ``kanjiwrite serve`` on a free loopback port, then drives it with ``wrk`` (Debian
package ``wrk``): one connection sending requests back to back; N concurrent connections
for a fixed time. Requests are realistic: a 10-stroke
kanji, human-like strokes of about 30 points. In the same run it times the bare ONNX
inference of the same requests, so the HTTP overhead is visible.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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


WRK_SCRIPT = """
local bodies = {}
for line in io.lines(os.getenv("KANJIWRITE_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


def load(url: str, bodies: list[dict], clients: int, seconds: float) -> dict:
    """Drive the service with wrk (Debian's ``wrk``): ``clients`` connections, each sending
    requests back to back for ``seconds``; latency percentiles from wrk's own histogram."""
    import json
    import re
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        lines = Path(folder) / "bodies.jsonl"
        lines.write_text("\n".join(json.dumps(b, ensure_ascii=False) for b in bodies) + "\n")
        script = Path(folder) / "post.lua"
        script.write_text(WRK_SCRIPT)
        result = subprocess.run(
            [
                "wrk",
                "-t",
                str(min(clients, 2)),
                "-c",
                str(clients),
                "-d",
                f"{seconds:g}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            env=dict(os.environ, KANJIWRITE_BODIES=str(lines)),
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    out = result.stdout

    def milliseconds(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": requests,
        "errors": int(bad.group(1)) if bad else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": milliseconds("50"),
        "p99_ms": milliseconds("99"),
    }


def bare_inference(bodies: list[dict], repeats: int = 3) -> dict:
    """The same requests graded in-process with ONNX Runtime (one thread), no HTTP."""
    from kanjiwrite.models.decoding import grade
    from kanjiwrite.serving.app import Scorer
    from kanjiwrite.serving.settings import Settings

    scorer = Scorer(Settings())
    pack = scorer.pack
    samples = []
    for repeat in range(repeats + 1):  # the first pass warms up ONNX Runtime
        for body in bodies:
            strokes = [np.array(s) for s in body["strokes"]]
            started = time.perf_counter()
            grade(
                scorer.predict,
                pack[body["kanji"]],
                strokes,
                (body["canvas"]["width"], body["canvas"]["height"]),
                prefixes=False,  # as the service grades a request
            )
            if repeat:
                samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.median(samples)), "p99_ms": float(np.percentile(samples, 99))}


def run(workers: int = 2, seconds: float = 60.0, clients: int = 16) -> dict:
    bodies = requests()
    port = free_port()
    url = f"http://{HOST}:{port}/v1/score"
    server = start_server(port, workers)
    try:
        load(url, bodies, 1, 3.0)  # warm-up
        sequential = load(url, bodies, 1, min(seconds, 20.0))
        concurrent = load(url, bodies, clients, seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "workers": workers,
        "sequential": sequential,
        "concurrent": concurrent,
        "bare_inference": bare_inference(bodies),
    }
