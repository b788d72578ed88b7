import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { formatRtt, type PingResult, rttStats, runPing } from "./ping.ts";
import { simOptions } from "./testing_opts.ts";
import { pingOnce } from "../net/ping_once.ts";

const B = 0x0a000002;

Deno.test("ping -c 3 gets 3 replies with iputils-like text", async () => {
  const net = new BackToBack();
  net.impair = (frames) => {
    net.clock.t += 0.25; // one-way latency
    return frames;
  };
  const args = { kind: "ping", dst: B, count: 3, intervalS: 1, size: 56, timeoutS: 1 } as const;
  const r = await net.run(runPing(net.a.stack, args, simOptions(net))) as PingResult;
  assert.equal(r.kind, "ping");
  assert.equal(r.transmitted, 3);
  assert.equal(r.received, 3);
  assert.equal(r.lossPct, 0);
  assert.deepEqual(r.replies.map((x) => x.seq), [1, 2, 3]);
  assert.equal(r.rttMs?.min, 0.5); // the first ping also waited for ARP: >= 0.5
  const lines = r.text.split("\n");
  assert.equal(lines[0], "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.");
  assert.equal(lines[2], "64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=0.500 ms");
  assert.equal(lines[5], "--- 10.0.0.2 ping statistics ---");
  assert.match(lines[6], /^3 packets transmitted, 3 received, 0% packet loss, time 20\d\dms$/);
  assert.match(lines[7], /^rtt min\/avg\/max\/mdev = 0\.500\/\d\.\d{3}\/\d\.\d{3}\/\d\.\d{3} ms$/);
  assert.doesNotThrow(() => JSON.stringify(r));
});

Deno.test("ping reports loss when a reply is dropped", async () => {
  const net = new BackToBack();
  let replies = 0;
  net.impair = (frames, from) =>
    frames.filter((f) => !(from === "b" && f[23] === 1 && ++replies === 2));
  const args = {
    kind: "ping",
    dst: B,
    count: 3,
    intervalS: 0.001,
    size: 8,
    timeoutS: 0.5,
  } as const;
  const r = await net.run(runPing(net.a.stack, args, simOptions(net))) as PingResult;
  assert.equal(r.transmitted, 3);
  assert.equal(r.received, 2);
  assert.equal(Math.round(r.lossPct * 1000), 33333);
  assert.deepEqual(r.replies.map((x) => x.seq), [1, 3]);
  assert.match(r.text, /3 packets transmitted, 2 received, 33\.333% packet loss/);
});

Deno.test("ping with no route is an error result, and 100% loss has no rtt", async () => {
  const net = new BackToBack();
  const args = {
    kind: "ping",
    dst: 0x0b000001,
    count: 1,
    intervalS: 1,
    size: 56,
    timeoutS: 1,
  } as const;
  const e = await runPing(net.a.stack, args, simOptions(net));
  assert.equal(e.kind, "error");
  net.impair = () => [];
  const lost = await net.run(
    runPing(net.a.stack, { ...args, dst: B }, simOptions(net)),
  ) as PingResult;
  assert.equal(lost.lossPct, 100);
  assert.equal(lost.rttMs, null);
});

Deno.test("rttStats computes min, avg, max, mdev, median and p99", () => {
  const s = rttStats([4, 1, 3, 2]);
  assert.deepEqual(s, { min: 1, avg: 2.5, max: 4, mdev: Math.sqrt(1.25), median: 2, p99: 4 });
  assert.equal(formatRtt(0.1234), "0.123");
  assert.equal(formatRtt(5.678), "5.68");
  assert.equal(formatRtt(12.34), "12.3");
  assert.equal(formatRtt(123.4), "123");
});

const pingArgs = (
  o: Partial<{ dst: number; count: number; intervalS: number; size: number; timeoutS: number }> =
    {},
) => ({
  kind: "ping" as const,
  dst: B,
  count: 3,
  intervalS: 0.01,
  size: 56,
  timeoutS: 1,
  ...o,
});

Deno.test("two pings at the same time in one VM each get their own replies", async () => {
  const net = new BackToBack();
  const runs = [1, 2].map(() => runPing(net.a.stack, pingArgs(), simOptions(net)));
  const [x, y] = await net.run(Promise.all(runs)) as PingResult[];
  assert.equal(x.received, 3, x.text);
  assert.equal(y.received, 3, y.text);
  assert.equal(net.a.stack.counters.drops.unmatchedEchoReply, 0);
});

Deno.test("fifty parallel pings in one VM all get every reply", async () => {
  const net = new BackToBack();
  await net.run(pingOnce(net.a.stack, B, { seq: 1, clock: net.clock, sleep: net.sleep })); // ARP queues at most 16 frames per address
  const runs = Array.from({ length: 50 }, () => runPing(net.a.stack, pingArgs(), simOptions(net)));
  const results = await net.run(Promise.all(runs)) as PingResult[];
  assert.deepEqual(results.map((r) => r.received), results.map(() => 3));
});

Deno.test("ping sends at its interval whether or not replies come back", async () => {
  const net = new BackToBack();
  let dropped = 0;
  // Drop every other echo reply (ICMP type 0 at byte 34).
  net.impair = (frames, from) =>
    frames.filter((f) => !(from === "b" && f[23] === 1 && f[34] === 0 && ++dropped % 2 === 1));
  const start = net.clock.t;
  const r = await net.run(
    runPing(net.a.stack, pingArgs({ count: 100, timeoutS: 1 }), simOptions(net)),
  ) as PingResult;
  const elapsed = net.clock.t - start;
  assert.equal(r.transmitted, 100);
  assert.equal(r.received, 50);
  // 99 intervals of 10 ms, then at most the last request's 1 s wait (waiting per reply: 50 s).
  assert.ok(elapsed <= 990 + 1000 + 1, `took ${elapsed} ms`);
});

Deno.test("a reply after its -W timeout counts as late, not received", async () => {
  const net = new BackToBack();
  let held: Uint8Array[] = [];
  net.impair = (frames, from) => {
    const out: Uint8Array[] = [];
    for (const f of frames) {
      const firstReply = from === "b" && f[23] === 1 && f[34] === 0 && f[41] === 1; // seq 1
      if (firstReply) held.push(f);
      else out.push(f);
    }
    if (from === "b" && net.clock.t >= 700 && held.length > 0) {
      out.push(...held);
      held = [];
    }
    return out;
  };
  const r = await net.run(
    runPing(net.a.stack, pingArgs({ count: 3, intervalS: 0.5, timeoutS: 0.2 }), simOptions(net)),
  ) as PingResult;
  assert.equal(r.transmitted, 3);
  assert.equal(r.received, 2, r.text);
  assert.equal(r.late, 1, r.text);
  assert.deepEqual(r.replies.map((x) => x.seq), [2, 3]);
  assert.match(r.text, /3 packets transmitted, 2 received, \+1 late, 33\.333% packet loss/);
});

Deno.test("pinging the VM's own address is answered through loopback", async () => {
  const net = new BackToBack();
  const r = await net.run(
    runPing(net.a.stack, pingArgs({ dst: 0x0a000001 }), simOptions(net)),
  ) as PingResult;
  assert.equal(r.received, 3, r.text);
  assert.equal(net.a.iface.outbox.length + net.a.stack.counters.framesOut, 0); // nothing on the wire
  assert.equal(net.a.stack.counters.loopbackFrames, 6); // 3 requests, 3 replies
  assert.match(r.text, /bytes from 10\.0\.0\.1: icmp_seq=1 /);
});

Deno.test("ping with a size above the MTU is fragmented and its reply reassembled", async () => {
  const net = new BackToBack();
  net.log = [];
  const r = await net.run(
    runPing(net.a.stack, pingArgs({ size: 4000, count: 2 }), simOptions(net)),
  ) as PingResult;
  assert.equal(r.received, 2, r.text);
  assert.match(r.text, /^PING 10\.0\.0\.2 \(10\.0\.0\.2\) 4000\(4028\) bytes of data\.$/m);
  assert.match(r.text, /^4008 bytes from 10\.0\.0\.2: icmp_seq=1 ttl=64 /m);
  const a = net.a.stack.counters;
  const b = net.b.stack.counters;
  assert.deepEqual([a.fragmentsOut, b.fragmentsIn, b.reassembled], [6, 6, 2]); // 1480+1480+1048
  assert.deepEqual([b.fragmentsOut, a.fragmentsIn, a.reassembled], [6, 6, 2]);
  assert.ok(net.log.every((l) => l.frame.length <= 1514));
});

Deno.test("ping's last wait sleeps to the last open deadline, waking for replies only", async () => {
  const net = new BackToBack();
  // Every reply to seq 1 is lost; seq 2's comes.
  net.impair = (frames, from) =>
    frames.filter((f) => !(from === "b" && f[23] === 1 && f[34] === 0 && f[41] === 1));
  const sim = simOptions(net);
  const waits: number[] = [];
  const opts = {
    ...sim,
    waitAtMost: (ms: number, p: Promise<unknown>) => (waits.push(ms), sim.waitAtMost(ms, p)),
  };
  const start = net.clock.t;
  const r = await net.run(
    runPing(net.a.stack, pingArgs({ count: 2, intervalS: 0.001, timeoutS: 3 }), opts),
  ) as PingResult;
  const elapsed = net.clock.t - start;
  assert.equal(r.received, 1, r.text);
  // It ends at seq 1's deadline (3 s after it was sent), not seq 2's, and not before.
  assert.ok(elapsed >= 3000 && elapsed < 3002, `took ${elapsed} ms`);
  // The interval's wait, then the last wait: one to seq 2's deadline that its reply ends, one to
  // seq 1's. Waits of 100 ms steps made about thirty.
  assert.ok(waits.length <= 4, JSON.stringify(waits));
});

Deno.test("a request the full transmit ring refuses is tried again, not counted as transmitted", async () => {
  const net = new BackToBack();
  const stack = net.a.stack;
  // The NIC's transmit ring is full for the first three tries of request 2, then drains.
  let refusals = 0;
  const open = stack.pingOpen.bind(stack);
  const full = stack; // its own pingOpen, over the class's
  full.pingOpen = (onReply) => {
    const opened = open(onReply);
    if (!opened.ok) return opened;
    const socket = opened.value;
    const send = socket.send.bind(socket);
    socket.send = (
      dst,
      o,
    ) => (o.seq === 2 && refusals < 3 ? (refusals++, "ring-full") : send(dst, o));
    return opened;
  };
  const args = pingArgs({ count: 3, timeoutS: 1 });
  const r = await net.run(runPing(full, args, simOptions(net))) as PingResult;
  assert.equal(refusals, 3);
  assert.equal(r.transmitted, 3, "each request counted once, when it left");
  assert.equal(r.received, 3);
  assert.equal(r.lossPct, 0);
  assert.doesNotMatch(r.text, /sendmsg/);

  // A ring that never drains: after -W of tries the request counts as sent and failed.
  refusals = -Infinity;
  const stuck = await net.run(runPing(full, args, simOptions(net))) as PingResult;
  assert.equal(stuck.transmitted, 3);
  assert.equal(stuck.received, 2);
  assert.match(stuck.text, /ping: sendmsg: ring-full \(icmp_seq=2\)/);
});
