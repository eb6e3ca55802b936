"""An MCP client (the official Python SDK, `mcp`) driving relive's MCP server
through one scenario with the `waiter` test agent: list tools and agents,
start a run that waits for a signal and signal it, start runs that wait for
an approval and reject and approve them, list and show runs, and two
refusals. Prints one JSON object with every answer, for tests/mcp.rs to
check.

usage: drive_relive.py stdio COMMAND ARGS...
       drive_relive.py http URL TOKEN
"""
import asyncio
import json
import sys
import time

import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


async def call(session, name, args):
    """A tool call's answer: its structured content, or its error text."""
    started = time.perf_counter()
    result = await session.call_tool(name, args)
    answer = {"ms": round((time.perf_counter() - started) * 1e3, 2)}
    if result.is_error:
        answer["error"] = " ".join(c.text for c in result.content if c.type == "text")
    else:
        answer["result"] = result.structured_content
    return answer


async def scenario(session):
    out = {}
    started = time.perf_counter()
    init = await session.initialize()
    out["initialize_ms"] = round((time.perf_counter() - started) * 1e3, 2)
    out["server"] = init.server_info.name
    tools = await session.list_tools()
    out["tools"] = sorted(t.name for t in tools.tools)
    out["read_only"] = sorted(
        t.name for t in tools.tools if t.annotations and t.annotations.read_only_hint
    )
    out["agents"] = await call(session, "list_agents", {})
    waits = {"agent": "waiter", "wait_secs": 30}
    out["start_signal"] = await call(session, "start_run", {**waits, "input": "signal go"})
    run = out["start_signal"]["result"]["id"]
    out["signal"] = await call(
        session, "signal", {"run": run, "name": "go", "data": {"n": 1}, "wait_secs": 30}
    )
    out["start_reject"] = await call(session, "start_run", {**waits, "input": "approve deploy"})
    run = out["start_reject"]["result"]["id"]
    out["reject"] = await call(
        session, "reject", {"run": run, "reason": "not today", "wait_secs": 30}
    )
    out["start_approve"] = await call(session, "start_run", {**waits, "input": "approve deploy"})
    run = out["start_approve"]["result"]["id"]
    out["approve"] = await call(session, "approve", {"run": run, "wait_secs": 30})
    out["approve_again"] = await call(session, "approve", {"run": run})
    out["list"] = await call(session, "list_runs", {"limit": 10})
    out["show"] = await call(session, "show_run", {"run": run, "entries": True})
    out["show_unknown"] = await call(session, "show_run", {"run": "nosuchrun"})
    out["start_unknown"] = await call(session, "start_run", {"agent": "nobody"})
    return out


async def main():
    if sys.argv[1] == "stdio":
        params = StdioServerParameters(command=sys.argv[2], args=sys.argv[3:])
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            out = await scenario(session)
    else:
        headers = {"Authorization": f"Bearer {sys.argv[3]}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http, streamable_http_client(
            sys.argv[2], http_client=http
        ) as streams, ClientSession(streams[0], streams[1]) as session:
            out = await scenario(session)
    print(json.dumps(out))


asyncio.run(main())
