"""Drive Helmdeck with the official MCP Python SDK and print what it observed.

The Rust tests in tests/tests/mcp.rs run this script against a real
`helmdeck serve` and assert on its JSON report, so the assertions read as
Helmdeck's behaviour while the client is an independent implementation.

    client.py SCENARIO --transport {http,legacy-http,sse,stdio} [options]

Environment: HELMDECK_URL (base URL), HELMDECK_TOKEN, and for the stdio
transport HELMDECK_MCP_BRIDGE (path of the helmdeck-mcp binary).

Transports: `http` is streamable HTTP in the SDK's default mode (2026-07-28,
stateless); `legacy-http` forces the initialize handshake (a session);
`sse` is the legacy HTTP+SSE transport; `stdio` runs the helmdeck-mcp bridge.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import struct
import subprocess
import sys
import zlib
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
import jsonschema
import mcp_types as types
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

TIMEOUT = 60.0


def decode_png(data: bytes) -> dict[str, Any]:
    """Decode a PNG far enough to prove it is one: signature, chunk CRCs,
    IHDR, and the zlib stream inflating to exactly the rows IHDR promises."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise ValueError("no IHDR")
    width, height, depth, color = header[:4]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    expected = height * (1 + width * channels * depth // 8)
    if len(raw) != expected:
        raise ValueError(f"pixel data is {len(raw)} bytes, IHDR promises {expected}")
    return {"width": width, "height": height}


def summarize(result: types.CallToolResult, fetch_links: bool = True) -> dict[str, Any]:
    """The parts of a tool result the tests look at."""
    out: dict[str, Any] = {
        "is_error": bool(result.is_error),
        "structured": result.structured_content,
        "text": [],
        "images": [],
        "links": [],
    }
    for block in result.content:
        if block.type == "text":
            out["text"].append(block.text)
        elif block.type == "image":
            raw = base64.b64decode(block.data)
            image: dict[str, Any] = {"mime": block.mime_type, "bytes": len(raw)}
            try:
                image["png"] = decode_png(raw)
            except Exception as e:  # reported, asserted on by the test
                image["png_error"] = str(e)
            out["images"].append(image)
        elif block.type == "resource_link":
            link: dict[str, Any] = {"uri": str(block.uri), "mime": block.mime_type, "size": block.size, "name": block.name}
            if fetch_links:
                # No Authorization header: the signed URL is the credential.
                response = httpx2.get(str(block.uri), timeout=TIMEOUT)
                link["status"] = response.status_code
                link["fetched_bytes"] = len(response.content)
                if response.status_code == 200 and (block.mime_type or "").startswith("image/png"):
                    link["png"] = decode_png(response.content)
            out["links"].append(link)
    return out


async def connect(stack: AsyncExitStack, transport: str, token: str | None, **kwargs: Any) -> Client:
    url = os.environ["HELMDECK_URL"].rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if transport in ("http", "legacy-http"):
        http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=TIMEOUT))
        server: Any = streamable_http_client(f"{url}/mcp", http_client=http)
        mode = "legacy" if transport == "legacy-http" else "auto"
    elif transport == "sse":
        server = sse_client(f"{url}/api/v1/mcp/sse", headers=headers, timeout=TIMEOUT)
        mode = "legacy"
    elif transport == "stdio":
        env = {"HELMDECK_URL": url, "HELMDECK_TOKEN": token or ""}
        server = StdioServerParameters(command=os.environ["HELMDECK_MCP_BRIDGE"], env=env)
        mode = "auto"
    else:
        raise SystemExit(f"unknown transport {transport}")
    return await stack.enter_async_context(Client(server, mode=mode, read_timeout_seconds=TIMEOUT, **kwargs))


def schema_problem(schema: Any) -> str | None:
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
        return None
    except jsonschema.SchemaError as e:
        return e.message


async def scenario_tools(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        client = await connect(stack, args.transport, args.token)
        listed = await client.list_tools()
        tools = []
        for tool in listed.tools:
            tools.append(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema_problem": schema_problem(tool.input_schema),
                    "output_schema_problem": schema_problem(tool.output_schema) if tool.output_schema else None,
                    "has_output_schema": tool.output_schema is not None,
                    "annotations": tool.annotations.model_dump(exclude_none=True) if tool.annotations else None,
                }
            )
        info = client.server_info
        return {
            "protocol": client.protocol_version,
            "server": {"name": info.name, "version": info.version} if info else None,
            "tools": tools,
        }


async def scenario_call(args: argparse.Namespace) -> dict[str, Any]:
    progress: list[list[Any]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append([done, total, message])

    async with AsyncExitStack() as stack:
        client = await connect(stack, args.transport, args.token)
        calls = []
        for _ in range(args.repeat):
            result = await client.call_tool(
                args.tool, json.loads(args.args), progress_callback=on_progress if args.progress else None
            )
            calls.append(summarize(result))
        out = calls[-1]
        out["progress"] = progress
        out["calls"] = len(calls)
        return out


async def scenario_unknown(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        client = await connect(stack, args.transport, args.token)
        try:
            result = await client.call_tool(args.tool, {})
            return {"raised": False, "result": summarize(result, fetch_links=False)}
        except MCPError as e:
            return {"raised": True, "code": e.code, "message": e.error.message}


async def scenario_cancel(args: argparse.Namespace) -> dict[str, Any]:
    """Call --tool and give up on it (the SDK sends `notifications/cancelled`)
    after --after seconds, or once the file --cancel-when exists (the test
    creates it when the call has reached the state it wants to cancel)."""
    async with AsyncExitStack() as stack:
        client = await connect(stack, args.transport, args.token)
        with anyio.CancelScope() if args.cancel_when else anyio.move_on_after(args.after) as scope:

            async def cancel_when_told() -> None:
                with anyio.fail_after(TIMEOUT):
                    while not os.path.exists(args.cancel_when):
                        await anyio.sleep(0.05)
                scope.cancel()

            async with anyio.create_task_group() as tasks:
                if args.cancel_when:
                    tasks.start_soon(cancel_when_told)
                await client.call_tool(args.tool, json.loads(args.args))
                tasks.cancel_scope.cancel()
        # The connection must still serve calls after the cancellation.
        after = await client.call_tool(args.then_tool, json.loads(args.then_args))
        return {"cancelled": scope.cancelled_caught, "then": summarize(after, fetch_links=False)}


async def scenario_watch(args: argparse.Namespace) -> dict[str, Any]:
    """Stay connected, run --install (a command line, JSON list) and wait for
    `notifications/tools/list_changed`; then list and call the new tool."""
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with AsyncExitStack() as stack:
        client = await connect(stack, args.transport, args.token, message_handler=on_message)
        before = {t.name for t in (await client.list_tools()).tools}
        install = json.loads(args.install)
        if client.protocol_version == "2026-07-28":
            async with client.listen(tools_list_changed=True) as subscription:
                subprocess.run(install, check=True, stdout=subprocess.DEVNULL)
                with anyio.move_on_after(TIMEOUT):
                    async for _event in subscription:
                        changed.set()
                        break
        else:
            subprocess.run(install, check=True, stdout=subprocess.DEVNULL)
            with anyio.move_on_after(TIMEOUT):
                await changed.wait()
        after = {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
        call = None
        if args.tool in after:
            call = summarize(await client.call_tool(args.tool, json.loads(args.args)), fetch_links=False)
        return {
            "protocol": client.protocol_version,
            "notified": changed.is_set(),
            "new_tools": sorted(after - before),
            "call": call,
        }


async def scenario_restart(args: argparse.Namespace) -> dict[str, Any]:
    """Call, wait for the test to restart the server (it touches --ready and
    waits for --resume), call again on the same connection."""
    async with AsyncExitStack() as stack:
        client = await connect(stack, args.transport, args.token)
        first = summarize(await client.call_tool(args.tool, json.loads(args.args)), fetch_links=False)
        open(args.ready, "w").close()
        with anyio.fail_after(TIMEOUT):
            while not os.path.exists(args.resume):
                await anyio.sleep(0.05)
        second = summarize(await client.call_tool(args.tool, json.loads(args.args)), fetch_links=False)
        return {"first": first, "second": second}


async def scenario_connect(args: argparse.Namespace) -> dict[str, Any]:
    """Connect and list tools, reporting how it fails (wrong token, URL)."""
    try:
        async with AsyncExitStack() as stack:
            client = await connect(stack, args.transport, args.token)
            await client.list_tools()
            return {"connected": True}
    except BaseException as e:  # an ExceptionGroup from the task group, or a plain error
        return {"connected": False, "error": describe(e)}


def describe(e: BaseException) -> str:
    if isinstance(e, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in e.exceptions)
    if isinstance(e, httpx2.HTTPStatusError):
        return f"HTTP {e.response.status_code} {e.response.headers.get('www-authenticate', '')}"
    if isinstance(e, MCPError):
        return f"MCPError {e.code}: {e.error.message} {e.error.data or ''}"
    return f"{type(e).__name__}: {e}"


SCENARIOS = {
    "tools": scenario_tools,
    "call": scenario_call,
    "unknown": scenario_unknown,
    "cancel": scenario_cancel,
    "watch": scenario_watch,
    "restart": scenario_restart,
    "connect": scenario_connect,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--transport", default="http", choices=["http", "legacy-http", "sse", "stdio"])
    parser.add_argument("--token", default=os.environ.get("HELMDECK_TOKEN"))
    parser.add_argument("--no-token", action="store_true", help="connect without a token")
    parser.add_argument("--tool", default="")
    parser.add_argument("--args", default="{}")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--after", type=float, default=1.0)
    parser.add_argument("--cancel-when", default="", help="cancel: give up once this file exists")
    parser.add_argument("--then-tool", default="")
    parser.add_argument("--then-args", default="{}")
    parser.add_argument("--install", default="[]")
    parser.add_argument("--ready", default="")
    parser.add_argument("--resume", default="")
    args = parser.parse_args()
    if args.no_token:
        args.token = None
    report = anyio.run(SCENARIOS[args.scenario], args)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
