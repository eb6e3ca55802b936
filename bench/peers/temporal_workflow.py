"""The Temporal workflow and activity of the peer benchmark (a module of its
own so that the workflow sandbox can re-import it)."""

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from common import Counter, payload

# Set by temporal_steps.py in the worker process (activities run outside the sandbox).
COUNTER = Counter(None)


@activity.defn
async def step(i: int) -> str:
    COUNTER.hit(i)
    return payload(i)


@workflow.defn
class StepsWorkflow:
    @workflow.run
    async def run(self, n: int, local: bool) -> int:
        total = 0
        for i in range(n):
            if local:
                out = await workflow.execute_local_activity(
                    step, i, start_to_close_timeout=timedelta(seconds=10)
                )
            else:
                out = await workflow.execute_activity(
                    step, i, start_to_close_timeout=timedelta(seconds=10)
                )
            total += len(out)
        return total
