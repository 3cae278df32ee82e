"""Time MCP calls with the official MCP Python SDK and print medians as JSON.

    bench.py overhead   --url URL --token TOKEN [--rounds N]
    bench.py screenshot --url URL --token TOKEN --playwright URL [--rounds N]

`overhead`: `text_stats` over MCP (one streamable HTTP connection) against
the same tool over REST (`POST /api/v1/packs/text.stats`, one keep-alive
HTTP client): the price of the MCP layer for a trivial tool.

`screenshot`: Helmdeck's `browser_screenshot_url` against `@playwright/mcp`
doing `browser_navigate` + `browser_take_screenshot`, both through the same
client, on the same local page served by this script. Every series runs
twice: paced (each sample after `--pace-ms` of idle time, as an agent's
calls come, so Helmdeck's warm pool has its spare contexts ready) and back
to back (the pool refills while calls run).

Run by `cargo xtask bench --only mcp`; timings belong in benchmarks, never in tests.
"""

from __future__ import annotations

import argparse
import http.server
import json
import statistics
import sys
import threading
import time
from contextlib import AsyncExitStack
from typing import Any, Awaitable, Callable

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

PAGE = b"<!doctype html><title>bench</title><h1>Helmdeck benchmark page</h1><p>" + b"lorem ipsum " * 200 + b"</p>"


def serve_page() -> str:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


async def timed(rounds: int, warmup: int, call: Callable[[], Awaitable[Any]], pace_s: float = 0.0) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(rounds):
        if pace_s:
            await anyio.sleep(pace_s)
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 3),
        "n": len(ordered),
    }


async def mcp_client(stack: AsyncExitStack, url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=120))
    return await stack.enter_async_context(Client(streamable_http_client(url, http_client=http), read_timeout_seconds=120))


async def overhead(args: argparse.Namespace) -> dict[str, Any]:
    payload = {"text": "the quick brown fox jumps over the lazy dog"}
    async with AsyncExitStack() as stack:
        client = await mcp_client(stack, f"{args.url}/mcp", args.token)

        async def over_mcp() -> None:
            result = await client.call_tool("text_stats", payload)
            assert not result.is_error, result

        rest = await stack.enter_async_context(
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {args.token}"}, timeout=60)
        )

        async def over_rest() -> None:
            response = await rest.post(f"{args.url}/api/v1/packs/text.stats", json=payload)
            response.raise_for_status()

        mcp_ms = await timed(args.rounds, 10, over_mcp)
        rest_ms = await timed(args.rounds, 10, over_rest)
    mcp, rest_stats = stats(mcp_ms), stats(rest_ms)
    return {
        "tool": "text.stats",
        "mcp_tools_call": mcp,
        "rest_post": rest_stats,
        "overhead_median_ms": round(mcp["median_ms"] - rest_stats["median_ms"], 3),
    }


async def screenshot(args: argparse.Namespace) -> dict[str, Any]:
    page = serve_page()
    async with AsyncExitStack() as stack:
        ours = await mcp_client(stack, f"{args.url}/mcp", args.token)
        names = {t.name for t in (await ours.list_tools()).tools}
        if "browser_screenshot_url" not in names:
            return {"skipped": "browser_screenshot_url is not installed (the browser pack, issue 3)"}
        theirs = await mcp_client(stack, args.playwright, None)

        async def helmdeck() -> None:
            result = await ours.call_tool("browser_screenshot_url", {"url": page})
            assert not result.is_error and any(b.type == "image" for b in result.content), result

        # Playwright MCP keeps one browser context across calls; the fair
        # counterpart is a Helmdeck session (its context is reused too).
        rest = await stack.enter_async_context(
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {args.token}"}, timeout=60)
        )
        created = await rest.post(f"{args.url}/api/v1/sessions", json={})
        created.raise_for_status()
        session = created.json()["id"]

        async def helmdeck_in_session() -> None:
            result = await ours.call_tool("browser_screenshot_url", {"url": page, "_session_id": session})
            assert not result.is_error and any(b.type == "image" for b in result.content), result

        async def playwright() -> None:
            await theirs.call_tool("browser_navigate", {"url": page})
            result = await theirs.call_tool("browser_take_screenshot", {})
            assert any(b.type == "image" for b in result.content), result

        async def series(pace_s: float) -> dict[str, Any]:
            a = stats(await timed(args.rounds, 3, helmdeck, pace_s))
            s = stats(await timed(args.rounds, 3, helmdeck_in_session, pace_s))
            b = stats(await timed(args.rounds, 3, playwright, pace_s))
            return {
                "helmdeck_browser_screenshot_url": a,
                "helmdeck_browser_screenshot_url_in_a_session": s,
                "playwright_mcp_navigate_and_screenshot": b,
                "ratio": round(a["median_ms"] / b["median_ms"], 3),
                "ratio_in_a_session": round(s["median_ms"] / b["median_ms"], 3),
            }

        paced = await series(args.pace_ms / 1000)
        back_to_back = await series(0.0)
    return {**paced, "pace_ms": args.pace_ms, "target_ratio": 0.5, "back_to_back": back_to_back}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["overhead", "screenshot"])
    parser.add_argument("--url", required=True, help="Helmdeck's base URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--playwright", default="", help="@playwright/mcp's MCP URL")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--pace-ms", type=int, default=500, help="idle time before each paced screenshot sample")
    args = parser.parse_args()
    report = anyio.run({"overhead": overhead, "screenshot": screenshot}[args.mode], args)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
