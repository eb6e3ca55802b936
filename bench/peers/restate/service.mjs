// Restate (TypeScript SDK, used from plain JavaScript): the workflow `steps`
// runs N sequential ctx.run steps, each returning a 200-byte string.
// Listens on 127.0.0.1:$PORT (HTTP/2 cleartext, as the Restate server expects).
// COUNTER_FILE, if set, gets one fixed-width line "<step> <pid>" per execution
// of a step (the side effect bench.py counts).
import * as restate from "@restatedev/restate-sdk";
import fs from "node:fs";
import http2 from "node:http2";

const PORT = Number(process.env.PORT || 9080);
const counterFd = process.env.COUNTER_FILE ? fs.openSync(process.env.COUNTER_FILE, "a") : null;
const pid = String(process.pid).padStart(8, "0");

function payload(i) {
  const head = `step-${String(i).padStart(6, "0")}-`;
  return head + "x".repeat(200 - head.length);
}

const steps = restate.workflow({
  name: "steps",
  handlers: {
    run: async (ctx, n) => {
      let total = 0;
      for (let i = 0; i < n; i++) {
        const out = await ctx.run("step", () => {
          if (counterFd !== null) fs.writeSync(counterFd, `${String(i).padStart(6, "0")} ${pid}\n`);
          return payload(i);
        });
        total += out.length;
      }
      return total;
    },
  },
});

const handler = restate.createEndpointHandler({ services: [steps] });
http2.createServer(handler).listen(PORT, "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${PORT}`);
});
