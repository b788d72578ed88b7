import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { simOptions } from "./testing_opts.ts";
import { runUdpEcho, type UdpEchoResult } from "./udp_echo.ts";

Deno.test("udp-echo sends every payload back to its source", async () => {
  const net = new BackToBack();
  const got: string[] = [];
  net.a.stack.udpBind(5000, (src, payload) => {
    assert.deepEqual(src, { ip: 0x0a000002, port: 7 });
    got.push(new TextDecoder().decode(payload));
  });
  const echo = runUdpEcho(net.b.stack, { kind: "udp-echo", port: 7, seconds: 1 }, simOptions(net));
  const client = (async () => {
    for (const word of ["hello", "world"]) {
      net.a.stack.udpSend({ ip: 0x0a000002, port: 7 }, 5000, new TextEncoder().encode(word));
      await net.sleep(10);
    }
  })();
  const [r] = await net.run(Promise.all([echo, client])) as [UdpEchoResult, void];
  assert.deepEqual(got, ["hello", "world"]);
  assert.equal(r.received, 2);
  assert.equal(r.echoed, 2);
  assert.equal(r.bytes, 10);
  assert.equal(r.seconds, 1);
});

Deno.test("udp-echo stops when aborted and reports a taken port", async () => {
  const net = new BackToBack();
  const abort = new AbortController();
  const echo = runUdpEcho(
    net.b.stack,
    { kind: "udp-echo", port: 7, seconds: null },
    simOptions(net, abort.signal),
  );
  const taken = await runUdpEcho(
    net.b.stack,
    { kind: "udp-echo", port: 7, seconds: 1 },
    simOptions(net),
  );
  assert.equal(taken.kind, "error");
  const stopper = net.sleep(250).then(() => abort.abort());
  const [r] = await net.run(Promise.all([echo, stopper]));
  assert.equal(r.kind, "udp-echo");
  assert.equal(net.b.stack.udpBind(7, () => {}).ok, true); // closed on exit
});
