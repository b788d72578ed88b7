import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { readFloodSeq } from "./flood_payload.ts";
import { runSink, type SinkResult } from "./sink.ts";
import { simOptions } from "./testing_opts.ts";
import { runUdpFlood, type UdpFloodResult } from "./udp_flood.ts";

const B = 0x0a000002;
const flood = (
  o: Partial<
    { count: number | null; seconds: number | null; ratePps: number | null; frameSize: number }
  >,
) => ({
  kind: "udp-flood" as const,
  dst: B,
  port: 9,
  frameSize: 64,
  ratePps: null,
  seconds: null,
  count: null,
  ...o,
});

function seqOf(f: Uint8Array): number {
  return f[23] === 17 ? readFloodSeq(f.subarray(42)) : -1;
}

Deno.test("flood --max -n 2000 through a 64-slot ring arrives complete at the sink", async () => {
  const net = new BackToBack({ capacity: 64 });
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 5, count: null }, opts);
  const sender = runUdpFlood(net.a.stack, flood({ count: 2000 }), opts);
  const [s, f] = await net.run(Promise.all([sink, sender])) as [SinkResult, UdpFloodResult];
  assert.equal(f.sent, 2000);
  assert.ok(f.ringFull > 0, "the ring should have filled");
  assert.equal(s.received, 2000);
  assert.equal(s.bytes, 2000 * 64);
  assert.deepEqual([s.lost, s.reordered, s.duplicated], [0, 0, 0]);
  assert.equal(net.a.stack.counters.udpOut, 2000);
});

Deno.test("sink detects the drops and swaps the link made", async () => {
  const net = new BackToBack();
  net.impair = (frames, from) => {
    if (from !== "a") return frames;
    const out = frames.filter((f) => ![10, 20, 30].includes(seqOf(f)));
    const i = out.findIndex((f) => seqOf(f) === 50);
    if (i >= 0 && i + 1 < out.length) [out[i], out[i + 1]] = [out[i + 1], out[i]];
    return out;
  };
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 5, count: null }, opts);
  const sender = runUdpFlood(net.a.stack, flood({ count: 100 }), opts);
  const [s, f] = await net.run(Promise.all([sink, sender])) as [SinkResult, UdpFloodResult];
  assert.equal(f.sent, 100);
  assert.equal(s.received, 97);
  assert.deepEqual([s.lost, s.reordered, s.duplicated], [3, 1, 0]);
});

Deno.test("flood -r 1000 -t 0.1 sends about 100 datagrams in 0.1 s", async () => {
  const net = new BackToBack();
  const r = await net.run(
    runUdpFlood(net.a.stack, flood({ ratePps: 1000, seconds: 0.1 }), simOptions(net)),
  ) as UdpFloodResult;
  assert.ok(r.sent >= 99 && r.sent <= 101, `sent ${r.sent}`);
  assert.ok(Math.abs(r.seconds - 0.1) < 0.002, `seconds ${r.seconds}`);
  assert.ok(Math.abs(r.pps - 1000) < 30, `pps ${r.pps}`);
  assert.ok(Math.abs(r.gbitPerSecond - (r.sent * 64 * 8) / r.seconds / 1e9) < 1e-12);
});

Deno.test("flood reports an error for no route, oversize frames and no ARP reply", async () => {
  const net = new BackToBack();
  const opts = simOptions(net);
  const noRoute = await runUdpFlood(net.a.stack, { ...flood({ count: 1 }), dst: 0x0b000001 }, opts);
  assert.equal(
    noRoute.kind === "error" && noRoute.message,
    "Cannot flood 11.0.0.1: no interface's subnet holds it",
  );
  const big = await runUdpFlood(net.a.stack, { ...flood({ count: 1 }), frameSize: 1515 }, opts);
  assert.equal(
    big.kind === "error" && big.message,
    "Cannot flood 10.0.0.2: frame size 1515 exceeds MTU 1500 + 14",
  );
  net.impair = () => [];
  const silent = await net.run(runUdpFlood(net.a.stack, flood({ count: 10 }), opts));
  assert.equal(
    silent.kind === "error" && silent.message,
    "Cannot flood 10.0.0.2: ARP got no reply",
  );
});

Deno.test("flood's first datagram leaves as the ARP reply comes in, not a 10 ms step later", async () => {
  const net = new BackToBack();
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: null, count: 1 }, opts);
  const sender = runUdpFlood(net.a.stack, flood({ count: 1 }), opts);
  const [s, f] = await net.run(Promise.all([sink, sender])) as [SinkResult, UdpFloodResult];
  assert.deepEqual([f.sent, s.received], [1, 1]);
  // The simulated link is instant: the old wait slept in 10 ms steps until the entry resolved.
  assert.ok(net.clock.now() < 1, `the flood ended at ${net.clock.now()} ms`);
});

Deno.test("a flood whose neighbour's ARP entry goes stale keeps sending while the probe is answered", async () => {
  const net = new BackToBack();
  net.log = [];
  let got = 0;
  net.b.stack.udpBind(9, () => got++);
  const r = await net.run(
    runUdpFlood(net.a.stack, flood({ ratePps: 50, seconds: 67 }), simOptions(net)),
  ) as UdpFloodResult;
  // The entry went stale at 60 s: the flood's next datagram went to b's MAC at once, and after
  // the 5 s delay one unicast probe went out, which b answered.
  assert.equal(r.arpWaits, 0);
  assert.equal(got, r.sent, "every datagram reached b");
  const a = net.a.stack.counters;
  assert.equal(a.arpRequestsOut, 2, "the first resolution and one probe");
  assert.equal(a.arpFailures, 0);
  const requests = net.log.filter((l) =>
    l.from === "a" && l.frame[12] === 0x08 && l.frame[13] === 0x06
  )
    .map((l) => [...l.frame.subarray(0, 6)].join(":"));
  const bMac = [...net.b.iface.mac].join(":");
  assert.deepEqual(
    requests,
    ["255:255:255:255:255:255", bMac],
    "a broadcast, then a unicast probe",
  );
  assert.equal(net.a.stack.arpCache()[0].state, "reachable");
});

Deno.test("a flood whose neighbour stops answering ARP waits for the reply, not counted as ring stalls", async () => {
  const net = new BackToBack();
  // b's ARP replies are lost from 60 s to 68.5 s: a's stale entry's three probes (65, 66 and 67 s,
  // after its 5 s delay) go unanswered, the entry is removed at 68 s, and its broadcast re-resolution holds the
  // flood's datagrams until b answers again, as an impaired link's loss or queue can: 1400-byte
  // frames at 500 a second fill the 212,992 bytes that wait for an address in 0.3 s.
  net.impair = (frames, from) =>
    from === "b" && net.clock.now() >= 60_000 && net.clock.now() < 68_500
      ? frames.filter((f) => !(f[12] === 0x08 && f[13] === 0x06))
      : frames;
  const r = await net.run(
    runUdpFlood(
      net.a.stack,
      flood({ ratePps: 500, seconds: 71, frameSize: 1400 }),
      simOptions(net),
    ),
    120_000,
  ) as UdpFloodResult;
  assert.equal(r.ringFull, 0, "the TX ring never filled");
  assert.equal(r.stalls, 0, "no wait for ring room timed out: the flood waited for ARP");
  assert.ok(r.arpWaits > 0 && r.arpWaits < 5, `arpWaits ${r.arpWaits}`);
  assert.equal(net.a.stack.counters.arpFailures, 1, "the stale entry's probes went unanswered");
  assert.match(r.text, /TX ring full 0 times; waited \d+ times? for an ARP reply$/);
});
