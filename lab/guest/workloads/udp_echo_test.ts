import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { simOptions } from "./testing_opts.ts";
import { runSink } from "./sink.ts";
import { runUdpEcho, type UdpEchoResult } from "./udp_echo.ts";
import { runUdpFlood, type UdpFloodResult } from "./udp_flood.ts";

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
  if (taken.kind === "error") {
    assert.equal(taken.message, "Cannot bind UDP port 7: port in use");
    assert.equal(taken.hint, "Pick another port with -p");
  }
  const stopper = net.sleep(250).then(() => abort.abort());
  const [r] = await net.run(Promise.all([echo, stopper]));
  assert.equal(r.kind, "udp-echo");
  assert.equal(net.b.stack.udpBind(7, () => {}).ok, true); // closed on exit
});

Deno.test("udp-echo, udp-flood and sink print a text summary, which --json replaces", async () => {
  const net = new BackToBack();
  const opts = simOptions(net);
  const echo = runUdpEcho(net.b.stack, { kind: "udp-echo", port: 7, seconds: 1 }, opts);
  const flood = runUdpFlood(net.a.stack, {
    kind: "udp-flood",
    dst: 0x0a000002,
    port: 7,
    frameSize: 64,
    ratePps: null,
    seconds: null,
    count: 5,
  }, opts);
  const [e, f] = await net.run(Promise.all([echo, flood])) as [UdpEchoResult, UdpFloodResult];
  assert.equal(
    e.text,
    "udp-echo on port 7: 5 datagrams (110 bytes) received, 5 echoed, 0 failed, in 1.000 s",
  );
  assert.match(
    f.text,
    new RegExp(
      `^udp-flood 10\\.0\\.0\\.2:7 from port ${f.srcPort}: 5 datagrams of 64 bytes in \\d+\\.\\d{3} s, (\\d+ pps, \\d+\\.\\d{3} Gbit/s|too short to measure a rate); TX ring full 0 times$`,
    ),
  );
  const s = await net.run(
    runSink(net.b.stack, { kind: "sink", port: 9, seconds: 0.1, count: null }, opts),
  );
  assert.equal(
    s.kind === "sink" && s.text.split("\n")[1],
    "total: lost 0 (before the last datagram seen), reordered 0, duplicated 0, ignored 0, from 0 sender(s)",
  );
});
