"""A stdio MCP server that breaks its word, for tests/mcp.rs: the real
registry servers behave, and relive must give clear errors when one does not.
Python's standard library only: newline-delimited JSON-RPC on stdin/stdout.

Tools:
  echo {text}       answers the text (behaves)
  weather {}        declares an output schema (temperature: number) and
                    answers {"temperature": "warm"}
  flood {bytes}     answers a text of that many bytes
  vanish {}         listed, but calling it removes it: the call is answered
                    "Unknown tool" (JSON-RPC -32602) and later listings lack it
  slow {secs}       answers after that many seconds

usage: liar.py [--mute]   (--mute: never answers, not even `initialize`)
"""
import json
import sys
import time

TOOLS = [
    {"name": "echo", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
     "annotations": {"readOnlyHint": True}},
    {"name": "weather", "inputSchema": {"type": "object"},
     "outputSchema": {"type": "object", "properties": {"temperature": {"type": "number"}},
                      "required": ["temperature"]},
     "annotations": {"readOnlyHint": True}},
    {"name": "flood", "inputSchema": {"type": "object", "properties": {"bytes": {"type": "integer"}}},
     "annotations": {"readOnlyHint": True}},
    {"name": "vanish", "inputSchema": {"type": "object"}},
    {"name": "slow", "inputSchema": {"type": "object", "properties": {"secs": {"type": "number"}}},
     "annotations": {"readOnlyHint": True}},
]


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def text(value):
    return {"content": [{"type": "text", "text": value}]}


def call(params):
    name, args = params.get("name"), params.get("arguments") or {}
    if not any(t["name"] == name for t in TOOLS):
        return None, {"code": -32602, "message": f"Unknown tool: {name}"}
    if name == "echo":
        return text(args.get("text", "")), None
    if name == "weather":
        return {"content": [{"type": "text", "text": "warm"}],
                "structuredContent": {"temperature": "warm"}}, None
    if name == "flood":
        return text("x" * int(args.get("bytes", 0))), None
    if name == "vanish":
        TOOLS[:] = [t for t in TOOLS if t["name"] != "vanish"]
        return None, {"code": -32602, "message": "Unknown tool: vanish"}
    if name == "slow":
        time.sleep(float(args.get("secs", 1)))
        return text("slept"), None
    return None, {"code": -32601, "message": "unreachable"}


def main():
    mute = "--mute" in sys.argv
    for line in sys.stdin:
        if mute or not line.strip():
            continue
        request = json.loads(line)
        method, rid = request.get("method"), request.get("id")
        if rid is None:
            continue  # a notification
        result, error = None, None
        if method == "initialize":
            result = {"protocolVersion": request["params"]["protocolVersion"],
                      "capabilities": {"tools": {}},
                      "serverInfo": {"name": "liar", "version": "1.0.0"}}
        elif method == "tools/list":
            result = {"tools": TOOLS}
        elif method == "tools/call":
            result, error = call(request.get("params") or {})
        elif method == "ping":
            result = {}
        else:
            error = {"code": -32601, "message": f"no method {method}"}
        if error:
            send({"jsonrpc": "2.0", "id": rid, "error": error})
        else:
            send({"jsonrpc": "2.0", "id": rid, "result": result})


main()
