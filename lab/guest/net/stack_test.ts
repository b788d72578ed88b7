import assert from "node:assert/strict";
import { Prng } from "../../../devices/base/prng.ts";
import { internetChecksum } from "./ipv4.ts";
import { BackToBack, FakeClock, FakeInterface } from "./testing.ts";
import { NetStack } from "./stack.ts";
import { BACKLOG_FRAMES, FLOW_FRAMES } from "./tx_backlog.ts";
import { pingOnce } from "./ping_once.ts";

const A = 0x0a000001;
const B = 0x0a000002;

function hex(s: string): number[] {
  return s.replace(/\s+/g, "").match(/../g)!.map((h) => parseInt(h, 16));
}

Deno.test("ARP request and reply frames are byte-exact", () => {
  const net = new BackToBack();
  net.log = [];
  assert.equal(net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(0)), "arp-pending");
  net.pump();
  assert.deepEqual(
    [...net.log[0].frame],
    hex(
      "ffffffffffff 020000000001 0806  0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002",
    ),
  );
  assert.equal(net.log[1].from, "b");
  assert.deepEqual(
    [...net.log[1].frame],
    hex(
      "020000000001 020000000002 0806  0001 0800 06 04 0002 020000000002 0a000002 020000000001 0a000001",
    ),
  );
  assert.equal(net.b.stack.counters.arpRequestsIn, 1);
  assert.equal(net.a.stack.counters.arpRepliesIn, 1);
});

Deno.test("UDP frame is byte-exact apart from the IP id (hand-computed UDP checksum)", () => {
  const net = new BackToBack();
  net.log = [];
  net.a.stack.udpSend({ ip: B, port: 9 }, 12345, new Uint8Array([0x68, 0x69]));
  net.pump();
  const f = net.log[2].frame;
  const expected = hex(
    "020000000002 020000000001 0800" +
      "4500 001e 0000 4000 4011 0000 0a000001 0a000002" +
      "3039 0009 000a 532c 6869",
  );
  expected[18] = f[18]; // IP id is seeded
  expected[19] = f[19];
  expected[24] = f[24]; // header checksum depends on the id
  expected[25] = f[25];
  assert.deepEqual([...f], expected);
  assert.equal(internetChecksum(f, 14, 20), 0);
});

Deno.test("ARP resolves, then ping gets replies with the same id, seq and payload", async () => {
  const net = new BackToBack();
  net.log = [];
  const first = await net.run(
    pingOnce(net.a.stack, B, { seq: 1, size: 56, clock: net.clock, sleep: net.sleep }),
  );
  assert.equal(first.kind, "reply");
  if (first.kind !== "reply") return;
  assert.equal(first.ttl, 64);
  assert.equal(first.bytes, 64);
  const second = await net.run(
    pingOnce(net.a.stack, B, { seq: 2, size: 56, clock: net.clock, sleep: net.sleep }),
  );
  assert.equal(second.kind, "reply");
  const echo = net.log.filter((l) => l.frame[23] === 1); // ICMP
  assert.equal(echo.length, 4);
  const [req, rep] = [echo[0].frame, echo[1].frame];
  assert.equal(req[34], 8);
  assert.equal(rep[34], 0);
  assert.deepEqual([...rep.subarray(38)], [...req.subarray(38)]); // id, seq, payload
  assert.equal(net.a.stack.counters.arpRequestsOut, 1);
  assert.equal(net.a.stack.counters.arpCacheHits, 1);
  assert.equal(net.b.stack.counters.icmpEchoRequestsIn, 2);
  assert.equal(net.a.stack.counters.icmpEchoRepliesIn, 2);
  assert.equal(net.a.stack.arpCache()[0].state, "reachable");
});

Deno.test("ARP gives up after 3 requests 1 s apart and counts the dropped frames", () => {
  const net = new BackToBack();
  net.impair = () => []; // nobody answers
  const s = net.a.stack;
  s.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(4));
  s.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(4));
  assert.equal(s.tick(), 1000);
  for (const t of [999, 1000, 2000, 3000]) {
    net.clock.t = t;
    s.tick();
    net.pump();
  }
  assert.equal(s.counters.arpRequestsOut, 3);
  assert.equal(s.counters.arpFailures, 1);
  assert.equal(s.counters.drops.arpTimeout, 2);
  assert.deepEqual(s.arpCache(), []);
  assert.equal(s.tick(), Infinity);
});

Deno.test("a one-way cut: the neighbour's broadcasts and requests never make its entry reachable, and its probes fail", () => {
  const net = new BackToBack();
  const a = net.a.stack, b = net.b.stack;
  a.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(4)); // a resolves b; b hears of a
  net.pump();
  assert.equal(a.arpCache()[0].state, "reachable", "confirmed by b's reply");
  assert.equal(b.arpCache()[0].state, "stale", "only heard of, from a's request");
  net.impair = (frames, from) => from === "a" ? [] : frames; // a's frames no longer reach b
  const seen = new Set<string>();
  for (let t = 61_000; t <= 90_000; t += 100) {
    net.clock.t = t;
    a.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(4));
    b.udpSend({ ip: A, port: 9 }, 9, new Uint8Array(4)); // b's probes, then requests, for a
    b.udpSend({ ip: 0x0a000003, port: 9 }, 9, new Uint8Array(4)); // b's broadcasts for another
    a.tick();
    b.tick();
    net.pump();
    for (const e of a.arpCache()) seen.add(e.state);
  }
  assert.ok(b.counters.arpRequestsOut > 10, `b sent ${b.counters.arpRequestsOut} requests`);
  assert.equal(seen.has("reachable"), false, `a's states for b: ${[...seen]}`);
  assert.ok(a.counters.arpFailures >= 1, "a's probes of b went unanswered and it was removed");
});

Deno.test("neighbour listeners hear each address learned or given up, until removed", () => {
  const heard: string[] = [];
  const net = new BackToBack();
  const s = net.a.stack;
  const off = s.onNeighbourChange(() => heard.push(s.arpCache().map((e) => e.state).join()));
  s.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(4));
  assert.deepEqual(heard, []);
  net.pump(); // b answers the request
  assert.deepEqual(heard, ["reachable"]);
  net.impair = () => []; // nobody answers 10.0.0.3
  s.udpSend({ ip: B + 1, port: 9 }, 9, new Uint8Array(4));
  for (const t of [1000, 2000, 3000]) {
    net.clock.t = t;
    s.tick();
  }
  assert.deepEqual(heard, ["reachable", "reachable"]); // given up: only b's row is left
  net.impair = null;
  // Once b's entry for a is stale, b's use of it probes a (after its delay), and a hears of b
  // from the request.
  const bAsks = (t: number) => {
    net.clock.t = t;
    net.b.stack.udpSend({ ip: A, port: 9 }, 9, new Uint8Array(4));
    net.pump();
    net.clock.t = t + 5_000;
    net.b.stack.tick();
    net.pump();
  };
  bAsks(10 * 60_000);
  assert.equal(heard.length, 3);
  off();
  bAsks(20 * 60_000);
  assert.equal(net.b.stack.counters.arpRequestsOut, 2); // b asked again: a heard nothing
  assert.equal(heard.length, 3);
});

Deno.test("the pending queue holds 212,992 bytes of frames per address and counts the rest", () => {
  const net = new BackToBack();
  let got = 0;
  net.b.stack.udpBind(9, () => got++);
  const outcomes = new Map<string, number>();
  // Frames of 1042 bytes (1000 of payload): 204 fit in Linux's unres_qlen_bytes default.
  for (let i = 0; i < 210; i++) {
    const o = net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(1000));
    outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(outcomes), { "arp-pending": 204, "arp-queue-full": 6 });
  assert.equal(net.a.stack.counters.drops.arpQueueFull, 6);
  net.pump();
  assert.equal(got, 204);
});

Deno.test("a 64 KiB datagram's fragments wait whole for ARP (16 frames lost the first ping)", async () => {
  const net = new BackToBack();
  const first = await net.run(
    pingOnce(net.a.stack, B, { seq: 1, size: 65507, clock: net.clock, sleep: net.sleep }),
  );
  assert.equal(first.kind, "reply", JSON.stringify(first));
  assert.equal(net.a.stack.counters.drops.arpQueueFull, 0);
});

Deno.test("corrupted IPv4 and UDP checksums are dropped and counted", () => {
  const net = new BackToBack();
  let got = 0;
  net.b.stack.udpBind(9, () => got++);
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(8));
  net.pump(); // resolve ARP, deliver one
  let n = 0;
  net.impair = (frames, from) =>
    frames.map((f) => {
      if (from === "a") f[n++ === 0 ? 24 : f.length - 1] ^= 0x5a; // IP checksum, then payload
      return f;
    });
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(8));
  net.pump();
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(8));
  net.pump();
  assert.equal(got, 1);
  assert.equal(net.b.stack.counters.drops.badChecksum, 2);
});

Deno.test("truncated frames and headers are counted, never thrown", () => {
  const net = new BackToBack();
  const b = net.b.stack;
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(8));
  net.log = [];
  net.pump();
  const udp = net.log[2].frame;
  b.input(0, udp.subarray(0, 5)); // no Ethernet header
  b.input(0, udp.subarray(0, 30)); // IPv4 header cut
  b.input(0, udp.subarray(0, 40)); // shorter than totalLength
  b.input(0, net.log[0].frame.subarray(0, 30)); // ARP cut
  assert.equal(b.counters.drops.truncated, 4);
});

Deno.test("frames for another MAC or IP, and unknown EtherTypes, are dropped", () => {
  const net = new BackToBack();
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(8));
  net.log = [];
  net.pump();
  const b = net.b.stack;
  const udp = net.log[2].frame.slice();
  const otherMac = udp.slice();
  otherMac[5] = 9;
  b.input(0, otherMac);
  const ipv6 = udp.slice();
  ipv6[12] = 0x86;
  ipv6[13] = 0xdd;
  b.input(0, ipv6);
  assert.equal(b.counters.drops.notForUs, 1);
  assert.equal(b.counters.drops.unknownEthertype, 1);
  // A well-formed datagram for 10.0.0.3 arriving at b's MAC.
  const c = new NetStack({
    interfaces: [new FakeInterface({ mac: 1, ip: A })],
    clock: new FakeClock(),
    seed: 3,
  });
  c.input(0, new Uint8Array(0));
  const before = b.counters.drops.notForUs;
  const third = new BackToBack();
  third.a.stack.udpSend({ ip: 0x0a000003, port: 9 }, 9, new Uint8Array(1));
  const arpForC = third.a.iface.outbox[0];
  b.input(0, arpForC); // ARP request for another host
  assert.equal(b.counters.drops.notForUs, before + 1);
  assert.equal(c.counters.drops.truncated, 1);
});

Deno.test("udp-level sends: no route, too big, ring full, and whenWritable", async () => {
  const net = new BackToBack({ capacity: 1 });
  const a = net.a.stack;
  assert.equal(a.udpSend({ ip: 0xc0a80001, port: 9 }, 9, new Uint8Array(1)), "no-route");
  assert.equal(a.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(65508)), "too-big");
  a.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(1));
  net.pump();
  assert.equal(a.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(1)), "sent");
  // The ring (one frame) is full: the flow's next FLOW_FRAMES wait in the backlog, then it is
  // refused.
  for (let i = 0; i < FLOW_FRAMES; i++) {
    assert.equal(a.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(1)), "sent");
  }
  assert.equal(a.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(1)), "ring-full");
  assert.equal(a.counters.txRingFull, 1);
  assert.equal(a.counters.txHeld, FLOW_FRAMES);
  let woke = false;
  const w = a.whenWritable(0).then(() => woke = true);
  const inBefore = net.b.stack.counters.framesIn;
  net.pump(); // drains the ring and calls onWritable, which sends the backlog frame by frame
  await w;
  assert.equal(woke, true);
  assert.equal(a.counters.txHeldSent, FLOW_FRAMES);
  assert.equal(net.b.stack.counters.framesIn - inBefore, 1 + FLOW_FRAMES);
  assert.equal(a.counters.drops.noRoute, 1);
  assert.equal(a.counters.drops.oversize, 1);
});

Deno.test("udpBind refuses bad and taken ports, and close frees the port", () => {
  const s = new BackToBack().a.stack;
  const r = s.udpBind(0, () => {});
  assert.deepEqual(!r.ok && r.error, { kind: "bad-port", port: 0 });
  const one = s.udpBind(7, () => {});
  const two = s.udpBind(7, () => {});
  assert.deepEqual(!two.ok && two.error, { kind: "port-in-use", port: 7 });
  if (one.ok) one.value.close();
  assert.equal(s.udpBind(7, () => {}).ok, true);
});

Deno.test("a ping with no answer times out after its timeout", async () => {
  const net = new BackToBack();
  net.impair = (
    frames,
    from,
  ) => (from === "b" ? frames.filter((f) => f[12] === 8 && f[13] === 6) : frames);
  const first = await net.run(
    pingOnce(net.a.stack, B, { seq: 1, timeoutMs: 500, clock: net.clock, sleep: net.sleep }),
  );
  assert.deepEqual(first, { kind: "timeout", seq: 1 });
  assert.equal(net.clock.t, 500);
});

Deno.test("random and mutated frames never throw (seeded fuzz)", () => {
  const seed = 20240601;
  const rng = Prng.fromSeed(seed);
  const net = new BackToBack();
  net.b.stack.udpBind(9, () => {});
  net.log = [];
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(20));
  pingOnce(net.a.stack, B, { seq: 1, clock: net.clock, sleep: net.sleep });
  net.pump();
  const seeds = net.log.map((l) => l.frame);
  const b = net.b.stack;
  for (let i = 0; i < 3000; i++) {
    const base = seeds[rng.below(seeds.length)];
    const f = base.slice(0, rng.below(base.length + 1));
    for (let k = rng.below(4); k > 0; k--) {
      if (f.length > 0) f[rng.below(f.length)] = rng.below(256);
    }
    try {
      b.input(0, f);
    } catch (e) {
      assert.fail(`seed ${seed} case ${i} threw: ${e}`);
    }
  }
  const d = b.counters.drops;
  assert.ok(d.truncated > 0 && d.badChecksum > 0, JSON.stringify(d));
});

Deno.test("concurrent pingOnce calls with the same seq each get their own reply", async () => {
  const net = new BackToBack();
  await net.run(pingOnce(net.a.stack, B, { seq: 1, clock: net.clock, sleep: net.sleep })); // ARP queues at most 16 frames per address
  const all = Array.from(
    { length: 50 },
    () => pingOnce(net.a.stack, B, { seq: 1, timeoutMs: 500, clock: net.clock, sleep: net.sleep }),
  );
  const outcomes = await net.run(Promise.all(all));
  assert.deepEqual(outcomes.map((o) => o.kind), outcomes.map(() => "reply"));
});

Deno.test("an echo reply that no ping socket holds is a counted drop", () => {
  const net = new BackToBack();
  const replies: number[] = [];
  const sock = net.a.stack.pingOpen((r) => replies.push(r.seq));
  assert.ok(sock.ok);
  if (!sock.ok) return;
  sock.value.send(B, { seq: 7 });
  net.pump();
  assert.deepEqual(replies, [7]);
  const other = net.a.stack.pingOpen(() => {});
  assert.ok(other.ok && other.value.id !== sock.value.id);
  sock.value.send(B, { seq: 8 });
  sock.value.close(); // the reply to seq 8 finds no socket
  net.pump();
  assert.deepEqual(replies, [7]);
  assert.equal(net.a.stack.counters.drops.unmatchedEchoReply, 1);
});

Deno.test("ARP table rows show a dotted IP, an aa:bb:… MAC and the interface name", () => {
  const net = new BackToBack();
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array(1));
  const pending = net.a.stack.arpRows();
  assert.deepEqual(pending.map((r) => [r.ip, r.mac, r.interface, r.state]), [
    ["10.0.0.2", null, "eth0", "incomplete"],
  ]);
  net.pump();
  const [row] = net.a.stack.arpRows();
  assert.deepEqual({ ...row, expiresInMs: 0 }, {
    ip: "10.0.0.2",
    mac: "02:00:00:00:00:02",
    interface: "eth0",
    state: "reachable",
    expiresInMs: 0,
    pending: 0,
  });
  assert.equal(JSON.stringify(row).includes('"mac":"02:00:00:00:00:02"'), true);
});

Deno.test("a UDP datagram above the MTU arrives whole; one with a lost fragment is counted after 30 s", () => {
  const net = new BackToBack();
  const got: number[] = [];
  net.b.stack.udpBind(9, (_src, payload) => got.push(payload.length, payload[2999]));
  const big = new Uint8Array(3000).map((_, i) => i & 0xff);
  assert.equal(net.a.stack.udpSend({ ip: B, port: 9 }, 9, big), "arp-pending");
  net.pump();
  assert.deepEqual(got, [3000, 2999 & 0xff]);
  assert.equal(net.a.stack.counters.fragmentsOut, 3);
  // Lose the second fragment (offset 1480: 185 × 8) of the next one.
  net.impair = (frames) => frames.filter((f) => !(f[20] === 0x20 && f[21] === 185));
  assert.equal(net.a.stack.udpSend({ ip: B, port: 9 }, 9, big), "sent");
  net.pump();
  assert.equal(got.length, 2);
  const b = net.b.stack;
  assert.equal(b.tick(), 30_000);
  net.clock.t += 30_000;
  b.tick();
  assert.equal(b.counters.drops.reassemblyTimeout, 2);
  assert.equal(b.tick(), Infinity);
});

Deno.test("a UDP payload in guest memory is handed over in the same view for the same place", () => {
  const net = new BackToBack();
  net.log = [];
  net.a.stack.udpSend({ ip: B, port: 9 }, 9, new Uint8Array([1])); // ARP first
  net.pump();
  const frame = net.log.find((l) => l.from === "a" && l.frame.length > 42)!.frame;
  const seen: { view: Uint8Array; bytes: number[] }[] = [];
  assert.ok(net.b.stack.udpBind(9, (_src, p) => seen.push({ view: p, bytes: [...p] })).ok);
  // The frame in shared memory (as RX buffers are), delivered twice with other payload bytes.
  const shared = new Uint8Array(new SharedArrayBuffer(256), 64, frame.length);
  shared.set(frame);
  net.b.stack.input(0, shared);
  shared[42] = 7;
  net.b.stack.input(0, shared, true); // checksum no longer matches: trusted, as with NEEDS_CSUM
  assert.equal(seen.length, 2);
  assert.equal(seen[0].view, seen[1].view, "one view for one place in guest memory");
  assert.deepEqual(seen.map((s) => s.bytes), [[1], [7]]);
  // Elsewhere (a plain buffer: loopback, reassembly): a view of its own each time.
  const plain = frame.slice();
  net.b.stack.input(0, plain);
  net.b.stack.input(0, plain);
  assert.equal(seen.length, 4);
  assert.notEqual(seen[2].view, seen[3].view);
  assert.deepEqual(seen[3].bytes, [1]);
});

/** Send to `dst` from `port` until the stack refuses; how many it took (ring and backlog). */
function floodUntilRefused(stack: NetStack, port: number, dst = B): number {
  let n = 0;
  while (stack.udpSend({ ip: dst, port: 9 }, port, new Uint8Array(18)) === "sent") n++;
  return n;
}

Deno.test("a ping beside a flood waits behind the full ring and leaves before the flood's next frames", async () => {
  const net = new BackToBack({ capacity: 4 });
  const a = net.a.stack;
  a.udpSend({ ip: B, port: 9 }, 5000, new Uint8Array(18)); // resolves B
  net.pump();
  assert.equal(floodUntilRefused(a, 5000), 4 + FLOW_FRAMES);
  const reply = pingOnce(a, B, { seq: 7, clock: net.clock, sleep: net.sleep });
  assert.equal(a.counters.icmpEchoRequestsOut, 1); // held, not refused
  assert.equal(a.counters.txHeld, FLOW_FRAMES + 1);
  net.log = [];
  // The flood's sender waits for room and sends again as soon as it comes (its next frames go
  // behind the ping's request).
  const refill = a.whenWritable(0).then(() => floodUntilRefused(a, 5000));
  net.pump();
  const outcome = await reply;
  assert.equal(outcome.kind, "reply");
  await refill;
  const fromA = net.log.filter((e) => e.from === "a").map((e) => e.frame[23]); // IP protocol
  const icmpAt = fromA.indexOf(1);
  assert.equal(icmpAt, 4 + FLOW_FRAMES, "after the ring's and the backlog's frames, not later");
});

Deno.test("an ARP reply that finds the ring full waits in the backlog instead of being lost", () => {
  const net = new BackToBack({ capacity: 2 });
  const a = net.a.stack, b = net.b.stack;
  b.udpSend({ ip: A, port: 9 }, 6000, new Uint8Array(18)); // a and b learn each other
  net.pump();
  assert.equal(floodUntilRefused(b, 6000, A), 2 + FLOW_FRAMES); // b's ring and its flow's share of the backlog are full
  const lost = b.counters.txRingFull;
  net.clock.t += 61_000; // a's entry for b is stale (it was only heard of, from b's request)
  const asked = a.counters.arpRequestsOut;
  a.udpSend({ ip: B, port: 9 }, 7000, new Uint8Array(18)); // its use puts the entry in delay
  net.clock.t += 5_000;
  a.tick(); // a probes b: is B still at this MAC?
  net.pump();
  assert.equal(b.counters.txRingFull, lost, "the reply was not refused");
  assert.equal(b.counters.arpRepliesOut, 1);
  assert.equal(a.arpCache().find((e) => e.ip === B)?.state, "reachable");
  assert.equal(a.counters.arpRequestsOut, asked + 1, "resolved without a retry");
});

Deno.test("a datagram's fragments that the ring cannot all take wait together, and are reassembled", () => {
  const net = new BackToBack({ capacity: 2 });
  const a = net.a.stack;
  let got = 0;
  const bound = net.b.stack.udpBind(9, (_src, p) => got = p.length);
  assert.equal(bound.ok, true);
  a.udpSend({ ip: B, port: 9 }, 5000, new Uint8Array(18));
  net.pump();
  assert.equal(a.udpSend({ ip: B, port: 9 }, 5000, new Uint8Array(4000)), "sent"); // 3 fragments
  assert.equal(a.counters.txHeld, 1);
  net.pump();
  assert.equal(got, 4000);
  assert.equal(a.counters.drops.fragmentsUnsent, 0);
  assert.equal(a.counters.fragmentsOut, 3);
});

Deno.test("many floods from one VM cannot fill the backlog: a ping and an ARP request beside them still wait in it", () => {
  const net = new BackToBack({ capacity: 4 });
  const a = net.a.stack;
  a.udpSend({ ip: B, port: 9 }, 5000, new Uint8Array(18)); // resolves B
  net.pump();
  // Twenty floods, each from its own port, each sending until refused (as udp-flood --max does).
  let taken = 0;
  for (let port = 5000; port < 5020; port++) taken += floodUntilRefused(a, port);
  assert.ok(taken < 4 + BACKLOG_FRAMES, `the floods took ${taken} of the ring and backlog`);
  const refused = a.counters.txRingFull;
  // A ping (a flow holding nothing) is held, not refused.
  let replies = 0;
  const sock = a.pingOpen(() => replies++);
  assert.equal(sock.ok, true);
  if (!sock.ok) return;
  assert.equal(sock.value.send(B, { seq: 1 }), "sent");
  // So is the ARP request for a neighbour not yet known, and the frame that waits for it.
  assert.equal(a.udpSend({ ip: 0x0a000003, port: 9 }, 6000, new Uint8Array(18)), "arp-pending");
  assert.equal(a.counters.txRingFull, refused, "neither was refused");
  assert.equal(a.counters.arpRequestsOut, 2);
  net.pump();
  assert.equal(a.counters.txHeld, a.counters.txHeldSent, "every held frame left");
  assert.equal(replies, 1);
});

Deno.test("frames that waited for ARP leave together behind a full ring, even while the stack's own flow holds frames", () => {
  const net = new BackToBack({ capacity: 1 });
  const a = net.a.stack;
  let got = 0;
  assert.equal(net.b.stack.udpBind(9, () => got++).ok, true);
  // a's ARP request for b fills its one-frame ring; a's datagrams to b wait for the reply.
  for (let i = 0; i < 12; i++) {
    assert.equal(a.udpSend({ ip: B, port: 9 }, 5000 + i, new Uint8Array(18)), "arp-pending");
  }
  const request = net.a.iface.outbox[0];
  // A third host asks for a: a's ARP reply (the stack's own flow) waits behind the full ring.
  const c = new NetStack({
    interfaces: [new FakeInterface({ mac: 3, ip: 0x0a000003 })],
    clock: net.clock,
    seed: 9,
  });
  c.udpSend({ ip: A, port: 9 }, 9, new Uint8Array(1));
  a.input(0, (c.interfaces[0] as FakeInterface).outbox[0]);
  assert.equal(a.counters.txHeld, 1);
  // b's reply comes while the ring is still full: the twelve frames wait behind it, together.
  net.b.stack.input(0, request);
  a.input(0, net.b.iface.outbox.shift()!);
  assert.equal(a.counters.drops.ringFullOnFlush, 0);
  assert.equal(a.counters.txHeld, 13);
  net.pump();
  assert.equal(got, 12);
});
