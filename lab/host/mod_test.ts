import assert from "node:assert/strict";
import { Prng } from "../../devices/base/prng.ts";
import * as host from "./mod.ts";

Deno.test("a frame crosses impairment, ring, switch and tap through the public API", () => {
  const stage = new host.ImpairStage({ ...host.NO_IMPAIRMENT, delayUs: 100 }, Prng.fromSeed(9));
  const ring = host.LinkRing.create(4, 64);
  const rx = host.LinkRing.attach(ring.buffer);
  assert.ok(rx.ok);
  const tap = host.TapReader.create(1 << 12, 64);
  const writer = host.TapWriter.attach(tap.buffer);
  assert.ok(writer.ok);
  tap.setEnabled(true);
  const sw = new host.LearningSwitch({ ports: 3, agingMs: 1000 });

  const frame = new Uint8Array(60).fill(0xff, 0, 6);
  frame[11] = 7;
  stage.offer(frame, 0);
  stage.drain(100, (f) => ring.push(f));
  ring.publish();
  const got = rx.value.peek();
  assert.ok(got);
  const outs: number[] = [];
  sw.forward(1, got, 0, (p) => outs.push(p));
  writer.value.capture(got, { tsUs: 5, direction: host.TapDirection.rx });
  rx.value.release();
  rx.value.finishConsume();

  assert.deepEqual(outs, [0, 2]);
  assert.equal(tap.drain(1 << 16).length, 16 + 60);
  assert.equal(host.pcapGlobalHeader().length, 24);
  assert.deepEqual(sw.macTable(0), [{ mac: "00:00:00:00:00:07", port: 1, ageMs: 0 }]);
});
