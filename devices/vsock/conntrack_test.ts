import assert from "node:assert/strict";
import { ConnTrack, Verdict } from "./conntrack.ts";
import { emptyHeader, type VsockHeader, VsockOp, VsockType } from "./header.ts";
import { VsockCounter } from "./metrics.ts";

const g = (op: number, f: Partial<VsockHeader> = {}): VsockHeader => ({
  ...emptyHeader(),
  srcCid: 3,
  dstCid: 4,
  srcPort: 1024,
  dstPort: 80,
  type: VsockType.STREAM,
  op,
  bufAlloc: 100,
  ...f,
});
const p = (op: number, f: Partial<VsockHeader> = {}): VsockHeader =>
  g(op, { srcCid: 4, dstCid: 3, srcPort: 80, dstPort: 1024, ...f });

Deno.test("a REQUEST on a live 4-tuple resets both ends", () => {
  const t = new ConnTrack(8);
  assert.equal(t.fromGuest(g(VsockOp.REQUEST)), Verdict.FORWARD);
  assert.equal(t.fromGuest(g(VsockOp.REQUEST)), Verdict.RESET_BOTH);
  assert.equal(t.reason, VsockCounter.malformedOp);
  assert.equal(t.size, 0);
});

Deno.test("a RESPONSE from the side that sent the REQUEST, or RW before RESPONSE, resets both", () => {
  const t = new ConnTrack(8);
  t.fromGuest(g(VsockOp.REQUEST));
  assert.equal(t.fromGuest(g(VsockOp.RESPONSE)), Verdict.RESET_BOTH);
  t.fromGuest(g(VsockOp.REQUEST));
  assert.equal(t.fromPeer(p(VsockOp.RW, { len: 1 })), Verdict.RESET_BOTH);
  t.fromGuest(g(VsockOp.REQUEST));
  assert.equal(t.fromPeer(p(VsockOp.RESPONSE)), Verdict.FORWARD);
  assert.equal(t.entries()[0].state, "established");
});

Deno.test("credit is mirrored both ways and an RST from either side removes the entry", () => {
  const t = new ConnTrack(8);
  t.fromPeer(p(VsockOp.REQUEST, { bufAlloc: 50 }));
  assert.equal(t.fromGuest(g(VsockOp.RESPONSE, { bufAlloc: 30 })), Verdict.FORWARD);
  assert.equal(t.fromGuest(g(VsockOp.RW, { len: 50 })), Verdict.FORWARD);
  assert.equal(t.stalled, true);
  assert.equal(t.fromPeer(p(VsockOp.RW, { len: 30 })), Verdict.FORWARD);
  assert.equal(t.fromPeer(p(VsockOp.CREDIT_UPDATE, { fwdCnt: 50 })), Verdict.FORWARD);
  assert.equal(t.fromGuest(g(VsockOp.RW, { len: 50 })), Verdict.FORWARD); // credit came back
  assert.equal(
    t.fromGuest(g(VsockOp.CREDIT_UPDATE, { bufAlloc: 30, fwdCnt: 10 })),
    Verdict.FORWARD,
  );
  assert.equal(t.fromPeer(p(VsockOp.RW, { len: 10 })), Verdict.FORWARD);
  assert.equal(t.fromPeer(p(VsockOp.RW, { len: 1 })), Verdict.RESET_BOTH);
  assert.equal(t.reason, VsockCounter.peerCreditViolations);
  t.fromPeer(p(VsockOp.REQUEST));
  assert.equal(t.fromPeer(p(VsockOp.RST)), Verdict.FORWARD);
  assert.equal(t.size, 0);
  assert.equal(t.fromPeer(p(VsockOp.RST)), Verdict.DROP); // never an RST for an RST
});
