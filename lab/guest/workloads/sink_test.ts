import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { writeFloodPayload } from "./flood_payload.ts";
import { runSink, SeqTracker, type SinkResult } from "./sink.ts";
import { simOptions } from "./testing_opts.ts";
import { rateText } from "./options.ts";
import { runUdpFlood, type UdpFloodResult } from "./udp_flood.ts";

/** A clock that always says 0 ms. */
const ZERO_CLOCK = { now: () => 0 };

function track(seqs: number[]) {
  const t = new SeqTracker();
  for (const s of seqs) t.observe(s);
  return { lost: t.lost, reordered: t.reordered, duplicated: t.duplicated };
}

Deno.test("SeqTracker counts gaps as lost, late arrivals as reordered, repeats as duplicates", () => {
  assert.deepEqual(track([0, 1, 2, 3]), { lost: 0, reordered: 0, duplicated: 0 });
  assert.deepEqual(track([0, 1, 3, 4]), { lost: 1, reordered: 0, duplicated: 0 });
  assert.deepEqual(track([0, 2, 1, 3]), { lost: 0, reordered: 1, duplicated: 0 });
  assert.deepEqual(track([0, 1, 1, 2, 0]), { lost: 0, reordered: 0, duplicated: 2 });
  assert.deepEqual(track([2, 3]), { lost: 2, reordered: 0, duplicated: 0 }); // lost at the start
});

Deno.test("SeqTracker keeps the highest number seen, -1 before the first", () => {
  const t = new SeqTracker();
  assert.equal(t.highest, -1);
  for (const s of [0, 3, 1]) t.observe(s);
  assert.equal(t.highest, 3);
});

Deno.test("SeqTracker forgets numbers that left its 65536-wide window", () => {
  assert.deepEqual(track([0, 70_000, 1]), { lost: 69_999, reordered: 1, duplicated: 0 });
  // Re-seen after the window slid past: bits were cleared, so 70_001 then 70_001 is a duplicate.
  assert.deepEqual(track([0, 70_000, 70_001, 70_001]), {
    lost: 69_999,
    reordered: 0,
    duplicated: 1,
  });
});

Deno.test("two floods into one sink: sequence numbers are tracked per sender", async () => {
  const net = new BackToBack({ capacity: 64 });
  const opts = simOptions(net);
  const flood = {
    kind: "udp-flood" as const,
    dst: 0x0a000002,
    port: 9,
    frameSize: 64,
    ratePps: null,
    seconds: null,
    count: 500,
  };
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 5, count: null }, opts);
  const senders = [runUdpFlood(net.a.stack, flood, opts), runUdpFlood(net.a.stack, flood, opts)];
  const [s, f1, f2] = await net.run(Promise.all([sink, ...senders])) as [
    SinkResult,
    UdpFloodResult,
    UdpFloodResult,
  ];
  assert.equal(f1.sent + f2.sent, 1000);
  assert.notEqual(f1.srcPort, f2.srcPort);
  assert.equal(s.received, 1000);
  assert.deepEqual([s.lost, s.reordered, s.duplicated], [0, 0, 0], s.text);
  assert.deepEqual(
    s.senders.map((x) => [x.src, x.received, x.lost, x.reordered, x.duplicated]).sort(),
    [[`10.0.0.1:${f1.srcPort}`, 500, 0, 0, 0], [`10.0.0.1:${f2.srcPort}`, 500, 0, 0, 0]].sort(),
  );
  assert.match(
    s.text,
    /^sink on port 9: 1000 datagrams .*\ntotal: lost 0 \(before the last datagram seen\), reordered 0, duplicated 0, ignored 0, from 2 sender\(s\)\n {2}10\.0\.0\.1:\d+: 500 received, lost 0 \(before the last datagram seen\)/,
  );
});

Deno.test("sink reports each sender's own loss and the total", async () => {
  const net = new BackToBack();
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 1, count: null }, opts);
  const payload = (seq: number) => {
    const p = new Uint8Array(22);
    writeFloodPayload(p, 0, seq, ZERO_CLOCK);
    return p;
  };
  const send = (srcPort: number, seqs: number[]) => {
    for (const q of seqs) net.a.stack.udpSend({ ip: 0x0a000002, port: 9 }, srcPort, payload(q));
  };
  send(1000, [0, 1, 2]);
  send(2000, [0, 2]); // 1 lost
  send(1000, [3]);
  send(2000, [3, 3]); // 1 duplicate
  const s = await net.run(sink) as SinkResult;
  assert.deepEqual(
    s.senders.map((x) => [x.src, x.received, x.lost, x.duplicated]),
    [["10.0.0.1:1000", 4, 0, 0], ["10.0.0.1:2000", 4, 1, 1]],
  );
  assert.deepEqual([s.received, s.lost, s.reordered, s.duplicated], [8, 1, 0, 1]);
});

Deno.test("sink -n ends at its COUNTth datagram; -t still bounds the wait", async () => {
  const payload = (seq: number) => {
    const p = new Uint8Array(22);
    writeFloodPayload(p, 0, seq, ZERO_CLOCK);
    return p;
  };
  for (const [sent, seconds, received] of [[5, null, 5], [3, 2, 3]] as const) {
    const net = new BackToBack();
    const opts = simOptions(net);
    const t0 = opts.clock.now();
    const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds, count: 5 }, opts);
    for (let q = 0; q < sent; q++) {
      net.a.stack.udpSend({ ip: 0x0a000002, port: 9 }, 1000, payload(q));
    }
    const s = await net.run(sink) as SinkResult;
    assert.equal(s.received, received);
    const waited = opts.clock.now() - t0;
    if (seconds === null) assert.ok(waited <= 200, `ended ${waited} ms after its start`);
    else assert.ok(waited >= seconds * 1000, `ended at -t, ${waited} ms after its start`);
  }
});

/** Datagrams with flood payloads `seqs`, from `srcPort` to port 9 of b. */
function sendSeqs(net: BackToBack, srcPort: number, seqs: number[]): void {
  for (const q of seqs) {
    const p = new Uint8Array(22);
    writeFloodPayload(p, 0, q, ZERO_CLOCK);
    net.a.stack.udpSend({ ip: 0x0a000002, port: 9 }, srcPort, p);
  }
}

Deno.test("sink -n counts the datagrams never seen at the end as lost; without -n it cannot", async () => {
  // 20 expected; 0..11 sent but 5 (a gap) and 12..19 (the end: a link that went down) missing.
  const seqs = [...Array(12).keys()].filter((q) => q !== 5);
  for (const count of [20, null]) {
    const net = new BackToBack();
    const opts = simOptions(net);
    const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 1, count }, opts);
    sendSeqs(net, 1000, seqs);
    const s = await net.run(sink) as SinkResult;
    assert.equal(s.received, 11);
    if (count === null) {
      assert.deepEqual([s.lost, s.lostAtEnd, s.expected], [1, null, null]);
      assert.deepEqual([s.senders[0].lost, s.senders[0].lostAtEnd], [1, null]);
      assert.match(s.text, /\ntotal: lost 1 \(before the last datagram seen\), reordered 0,/);
    } else {
      assert.deepEqual([s.lost, s.lostAtEnd, s.expected], [9, 8, 20], s.text);
      assert.deepEqual([s.senders[0].lost, s.senders[0].lostAtEnd], [9, 8]);
      assert.match(
        s.text,
        /\ntotal: lost 9 \(8 after the last datagram seen, of 20 expected\), reordered 0,/,
      );
    }
  }
});

Deno.test("sink -n: every expected datagram seen, nothing lost at the end", async () => {
  const net = new BackToBack();
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 1, count: 6 }, opts);
  sendSeqs(net, 1000, [0, 2, 1, 3, 4, 5]);
  const s = await net.run(sink) as SinkResult;
  assert.deepEqual([s.received, s.lost, s.lostAtEnd, s.reordered], [6, 0, 0, 1], s.text);
});

Deno.test("sink -n counts a duplicate in received, not toward COUNT: no phantom loss at the end", async () => {
  // A link that duplicates: the copies ended the sink early, and the datagrams not yet seen
  // read as lost at the end (868 "lost" of 10000 with 10 % duplicates, none lost).
  const net = new BackToBack();
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 1, count: 6 }, opts);
  sendSeqs(net, 1000, [0, 0, 1, 2, 2, 3]); // six datagrams, four of them distinct
  void net.sleep(10).then(() => sendSeqs(net, 1000, [4, 5]));
  const s = await net.run(sink) as SinkResult;
  assert.deepEqual(
    [s.received, s.duplicated, s.lost, s.lostAtEnd],
    [8, 2, 0, 0],
    s.text,
  );
});

Deno.test("sink -n with several senders: the end's loss is the total's, not one sender's", async () => {
  const net = new BackToBack();
  const opts = simOptions(net);
  // 12 expected from two floods, numbered up to 3 and 5 (10 in all), one with a gap: 1 + 2 lost.
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 1, count: 12 }, opts);
  sendSeqs(net, 1000, [0, 1, 2, 3]);
  sendSeqs(net, 2000, [0, 1, 3, 4, 5]);
  const s = await net.run(sink) as SinkResult;
  assert.deepEqual(
    s.senders.map((x) => [x.src, x.received, x.lost, x.lostAtEnd]),
    [["10.0.0.1:1000", 4, 0, null], ["10.0.0.1:2000", 5, 1, null]],
  );
  assert.deepEqual([s.received, s.lost, s.lostAtEnd, s.expected], [9, 3, 2, 12], s.text);
  assert.match(
    s.text,
    /\n {2}10\.0\.0\.1:2000: 5 received, lost 1 \(before the last datagram seen\)/,
  );
});

Deno.test("sink -n: a datagram that is not a flood's takes its place in the count", async () => {
  const net = new BackToBack();
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 1, count: 5 }, opts);
  sendSeqs(net, 1000, [0, 1, 2]);
  net.a.stack.udpSend({ ip: 0x0a000002, port: 9 }, 1000, new Uint8Array(4)); // no flood magic
  const s = await net.run(sink) as SinkResult;
  assert.deepEqual([s.received, s.ignored, s.lost, s.lostAtEnd], [4, 1, 1, 1], s.text);
});

Deno.test("a flood and a sink that take no time on the clock say so, not '0 pps'", async () => {
  // `vlab exec a -- udp-flood 10.0.0.2 -n 5` said "5 datagrams of 64 bytes in 0.000 s, 0 pps".
  const net = new BackToBack();
  const opts = simOptions(net);
  const sink = runSink(net.b.stack, { kind: "sink", port: 9, seconds: 1, count: 3 }, opts);
  const flood = runUdpFlood(net.a.stack, {
    kind: "udp-flood",
    dst: 0x0a000002,
    port: 9,
    frameSize: 64,
    ratePps: null,
    seconds: null,
    count: 3,
  }, opts);
  const [s, f] = await net.run(Promise.all([sink, flood]));
  assert.ok(s.kind === "sink" && f.kind === "udp-flood");
  assert.equal(f.seconds, 0, "the simulated clock did not move");
  assert.match(f.text, /: 3 datagrams of 64 bytes in 0\.000 s, too short to measure a rate; TX/);
  assert.match(
    s.text,
    /^sink on port 9: 3 datagrams \(192 frame bytes\) in 0\.000 s, too short to measure a rate\n/,
  );
  assert.equal(rateText(2, 1000, 0.000512), "1000 pps, 0.001 Gbit/s");
});
