/**
 * The Links panel shows what a direction's impairment stage holds now (`queued`, netem's backlog),
 * before its waits, and nothing when it holds none.
 */

import assert from "node:assert/strict";
import { linksLines, waitSegs } from "./links.tsx";
import { OccupancyHistory } from "./rates.ts";
import { fixtureData } from "./testing.tsx";

const join = (segs: readonly { text: string }[]) => segs.map((s) => s.text).join("");

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

Deno.test("a queue that comes and goes keeps its line for 2 s, so the lines below it stay put", () => {
  const base = fixtureData("pair").snapshot!;
  const at = (t: number, queued: number) => {
    const s = structuredClone(base);
    s.takenAt = base.takenAt + t;
    s.links[0].forward.queued = queued;
    // No waits: the queued frames alone take the line below the drops.
    s.links[0].forward.waits = { rxBuffer: 0, linkFull: 0 };
    return s;
  };
  const history = new OccupancyHistory();
  const draw = (snapshot: ReturnType<typeof at>) => {
    history.add(snapshot);
    const lines = linksLines({
      snapshot,
      rates: null,
      history,
      selected: 0,
      width: 80,
      height: 20,
      colors: false,
    });
    return lines.map((l) => join(l).trimEnd());
  };
  const empty = draw(at(0, 0));
  assert.ok(!empty.some((l) => l.includes("queued")), empty.join("\n"));
  const held = draw(at(100, 3));
  assert.ok(held.some((l) => l.trim() === "queued 3"), held.join("\n"));
  // Empty again 100 ms later (a rate-limited link carrying about its rate): the same lines.
  const emptied = draw(at(200, 0));
  assert.ok(emptied.some((l) => l.trim() === "queued 0"), emptied.join("\n"));
  assert.equal(emptied.length, held.length);
  const again = draw(at(300, 1));
  assert.equal(again.length, held.length);
  // Empty for 2 s: the line goes.
  draw(at(1_300, 0));
  const gone = draw(at(2_400, 0));
  assert.ok(!gone.some((l) => l.includes("queued")), gone.join("\n"));
  assert.equal(gone.length, empty.length);
});
