import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { formatRtt, type PingResult, rttStats, runPing } from "./ping.ts";
import { simOptions } from "./testing_opts.ts";

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
