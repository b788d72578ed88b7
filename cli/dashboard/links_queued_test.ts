/**
 * The Links panel shows what a direction's impairment stage holds now (`queued`, netem's backlog),
 * before its waits, and nothing when it holds none.
 */

import assert from "node:assert/strict";
import { waitSegs } from "./links.tsx";
import { fixtureData } from "./testing.tsx";

const join = (segs: { text: string }[]) => segs.map((s) => s.text).join("");

Deno.test("the Links panel shows a direction's queued frames before its waits", () => {
  const link = structuredClone(fixtureData("pair").snapshot!.links[0]);
  const d = { ...link.forward, waits: { rxBuffer: 0, linkFull: 0 } };
  assert.equal(join(waitSegs({ ...d, queued: 0 }, undefined)), "");
  assert.equal(join(waitSegs({ ...d, queued: 812 }, undefined)), "queued 812");
  assert.equal(
    join(waitSegs({ ...d, queued: 812, waits: { rxBuffer: 35, linkFull: 2 } }, undefined)),
    "queued 812 · waited for RX buffer 35 · for link 2",
  );
  assert.equal(
    join(waitSegs({ ...d, waits: { rxBuffer: 35, linkFull: 0 } }, undefined)),
    "waited for RX buffer 35",
    "a snapshot of an older vlab has no queued",
  );
});
