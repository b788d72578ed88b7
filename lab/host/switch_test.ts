import assert from "node:assert/strict";
import { formatMac, LearningSwitch } from "./switch.ts";

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function mac(n: number): number[] {
  return [0x02, 0, 0, 0, 0, n];
}

function eth(dst: number[], src: number[]): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08;
  return f;
}

function fwd(sw: LearningSwitch, inPort: number, f: Uint8Array, nowMs = 0): number[] {
  const outs: number[] = [];
  sw.forward(inPort, f, nowMs, (p) => outs.push(p));
  return outs;
}

Deno.test("broadcast floods to every port but the input port and learns the source", () => {
  const sw = new LearningSwitch({ ports: 4, agingMs: 1000 });
  assert.deepEqual(fwd(sw, 2, eth(BCAST, mac(1))), [0, 1, 3]);
  assert.deepEqual(sw.macTable(0), [{ mac: "02:00:00:00:00:01", port: 2, ageMs: 0 }]);
  assert.deepEqual([sw.counters.flooded, sw.counters.learned], [1, 1]);
});

Deno.test("unknown unicast floods; known unicast goes to its port only", () => {
  const sw = new LearningSwitch({ ports: 3, agingMs: 1000 });
  assert.deepEqual(fwd(sw, 0, eth(mac(2), mac(1))), [1, 2]);
  assert.deepEqual(fwd(sw, 1, eth(mac(1), mac(2))), [0]);
  assert.deepEqual(fwd(sw, 0, eth(mac(2), mac(1))), [1]);
  assert.deepEqual([sw.counters.forwarded, sw.counters.flooded], [2, 1]);
});

Deno.test("multicast destinations flood and multicast sources are not learned", () => {
  const sw = new LearningSwitch({ ports: 3, agingMs: 1000 });
  const group = [0x01, 0x00, 0x5e, 0, 0, 1];
  assert.deepEqual(fwd(sw, 0, eth(group, mac(1))), [1, 2]);
  fwd(sw, 1, eth(mac(1), group));
  assert.equal(sw.macTable(0).length, 1);
  assert.deepEqual(fwd(sw, 2, eth(group, mac(3))), [0, 1], "still flooded once the group sent");
});

Deno.test("a unicast frame whose destination is on the input port is filtered", () => {
  const sw = new LearningSwitch({ ports: 3, agingMs: 1000 });
  fwd(sw, 0, eth(BCAST, mac(1)));
  assert.deepEqual(fwd(sw, 0, eth(mac(1), mac(2))), []);
  assert.equal(sw.counters.filtered, 1);
});

Deno.test("a station that moves is re-learned on its new port", () => {
  const sw = new LearningSwitch({ ports: 3, agingMs: 1000 });
  fwd(sw, 0, eth(BCAST, mac(1)));
  fwd(sw, 2, eth(BCAST, mac(1)), 5);
  assert.deepEqual(fwd(sw, 1, eth(mac(1), mac(2)), 6), [2]);
  assert.equal(sw.counters.moved, 1);
});

Deno.test("entries age out after agingMs and their destination floods again", () => {
  const sw = new LearningSwitch({ ports: 3, agingMs: 100 });
  fwd(sw, 0, eth(BCAST, mac(1)), 0);
  assert.deepEqual(fwd(sw, 1, eth(mac(1), mac(2)), 100), [0]);
  assert.deepEqual(fwd(sw, 1, eth(mac(1), mac(2)), 101), [0, 2], "expired: flood");
  fwd(sw, 2, eth(BCAST, mac(3)), 101); // learning a new station ages the table
  assert.equal(sw.counters.aged, 1);
  assert.deepEqual(sw.macTable(101).map((e) => e.mac), ["02:00:00:00:00:02", "02:00:00:00:00:03"]);
});

Deno.test("a full table evicts the least recently seen entry", () => {
  const sw = new LearningSwitch({ ports: 2, agingMs: 1e9, maxEntries: 2 });
  fwd(sw, 0, eth(BCAST, mac(1)), 1);
  fwd(sw, 0, eth(BCAST, mac(2)), 2);
  fwd(sw, 0, eth(BCAST, mac(1)), 3); // refresh 1: now 2 is the oldest
  fwd(sw, 1, eth(BCAST, mac(3)), 4);
  assert.deepEqual(sw.macTable(4).map((e) => e.mac), ["02:00:00:00:00:01", "02:00:00:00:00:03"]);
  assert.equal(sw.counters.evicted, 1);
});

Deno.test("runts are dropped and counted; a bad port is a programmer error", () => {
  const sw = new LearningSwitch({ ports: 2, agingMs: 1000 });
  assert.deepEqual(fwd(sw, 0, new Uint8Array(13)), []);
  assert.equal(sw.counters.runts, 1);
  assert.throws(() => fwd(sw, 2, eth(BCAST, mac(1))), RangeError);
  assert.throws(
    () => new LearningSwitch({ ports: -1, agingMs: 1 }),
    /ports must be a whole number, got -1/,
  );
});

Deno.test("a switch no link joins has 0 ports and refuses any port as a programmer error", () => {
  const sw = new LearningSwitch({ ports: 0, agingMs: 1000 });
  assert.equal(sw.ports, 0);
  assert.throws(
    () => fwd(sw, 0, eth(BCAST, mac(1))),
    /Cannot forward on port 0: the switch has no ports/,
  );
  assert.deepEqual(sw.macTable(0), []);
});

Deno.test("formatMac renders 48 bits as six hex pairs", () => {
  assert.equal(formatMac(0xfedcba987654), "fe:dc:ba:98:76:54");
  assert.equal(formatMac(1), "00:00:00:00:00:01");
});

Deno.test("a port that goes down forgets its stations: frames for them flood again", () => {
  // They stayed until they aged out (300 s): pings to a station behind a down port went into it.
  const sw = new LearningSwitch({ ports: 3, agingMs: 300_000 });
  fwd(sw, 1, eth(BCAST, mac(1)));
  fwd(sw, 1, eth(BCAST, mac(3))); // two stations behind port 1 (a trunk)
  fwd(sw, 2, eth(BCAST, mac(2)));
  assert.deepEqual(fwd(sw, 0, eth(mac(1), mac(9))), [1]);
  assert.equal(sw.flushPort(1), 2);
  assert.deepEqual(sw.macTable(0).map((e) => e.mac), ["02:00:00:00:00:02", "02:00:00:00:00:09"]);
  assert.deepEqual(fwd(sw, 0, eth(mac(1), mac(9))), [1, 2]); // unknown again: flooded
  assert.deepEqual(fwd(sw, 0, eth(mac(2), mac(9))), [2]); // other ports' stations stay
  assert.equal(sw.counters.flushed, 2);
});

Deno.test("a MAC table row's age is whole milliseconds", () => {
  // `vlab fdb --json` printed the clock's fraction: "ageMs": 5413.967653999999.
  const sw = new LearningSwitch({ ports: 2, agingMs: 10_000 });
  fwd(sw, 0, eth(BCAST, mac(1)), 0.25);
  assert.deepEqual(sw.macTable(5414.217653999999), [
    { mac: "02:00:00:00:00:01", port: 0, ageMs: 5414 },
  ]);
});
