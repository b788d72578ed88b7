/**
 * `FrameWriter`: a partial-checksum UDP frame copied from the template is, once the NIC completes
 * its checksum, the frame the field-by-field writers build with a full checksum, byte for byte,
 * whatever changed since the frame before (addresses, MACs, ports, length, a MAC changed in place).
 */

import assert from "node:assert/strict";
import { completeChecksum } from "../../../devices/net/checksum.ts";
import { FrameWriter } from "./frame_writer.ts";
import { IpProtocol } from "./ipv4.ts";

interface Datagram {
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  src: number;
  dst: number;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** Build `d` with `w`; with `offload` the NIC's part (completing the checksum) done too. */
function build(w: FrameWriter, d: Datagram, offload: boolean): Uint8Array {
  w.udp(d.srcPort, d.dstPort, d.payload);
  const len = w.headers(d.srcMac, d.src, d.dst, IpProtocol.udp, 8 + d.payload.length);
  w.destination(d.dstMac);
  const meta = offload ? w.offloadChecksum() : 0;
  // In a buffer of its own at a multiple of 4, as a TX buffer is, with room behind it.
  const frame = new Uint8Array(new ArrayBuffer(len + 64), 4, len);
  frame.fill(0xee);
  w.fill(frame);
  if (offload) assert.ok(completeChecksum(frame, meta));
  return frame;
}

const mac = (n: number) => new Uint8Array([2, 0, 0, 0, 0, n]);

Deno.test("a partial-checksum UDP frame equals the field-by-field one once its checksum is completed", () => {
  const base: Datagram = {
    srcMac: mac(1),
    dstMac: mac(2),
    src: 0x0a000001,
    dst: 0x0a000002,
    srcPort: 49152,
    dstPort: 9,
    payload: Uint8Array.from({ length: 22 }, (_, i) => i * 7),
  };
  const inPlace = mac(3);
  const steps: Datagram[] = [
    base,
    base, // the same flow: from the template
    { ...base, payload: Uint8Array.from({ length: 22 }, (_, i) => 255 - i) },
    { ...base, dst: 0x0a000003 },
    { ...base, src: 0x0a000009 },
    { ...base, srcPort: 49153 },
    { ...base, dstPort: 10 },
    { ...base, payload: new Uint8Array(1458).fill(0x5a) },
    { ...base, payload: new Uint8Array(0) },
    { ...base, dstMac: mac(4) },
    { ...base, srcMac: mac(5) },
    { ...base, dstMac: inPlace },
    base,
  ];
  const templated = new FrameWriter(0xfffe);
  const fields = new FrameWriter(0xfffe);
  for (const [i, d] of steps.entries()) {
    const a = build(templated, d, true);
    const b = build(fields, d, false);
    assert.deepEqual(a, b, `step ${i}`);
  }
  // A neighbour's MAC that changes in the array the stack holds (the same object).
  inPlace[5] = 6;
  assert.deepEqual(
    build(templated, { ...base, dstMac: inPlace }, true),
    build(fields, { ...base, dstMac: inPlace }, false),
  );
});

Deno.test("frames from the template carry consecutive identifications, wrapping at 16 bits", () => {
  const w = new FrameWriter(0xffff);
  const d: Datagram = {
    srcMac: mac(1),
    dstMac: mac(2),
    src: 0x0a000001,
    dst: 0x0a000002,
    srcPort: 5000,
    dstPort: 9,
    payload: new Uint8Array(4),
  };
  const ids = [0, 1, 2].map(() => {
    const f = build(w, d, true);
    return (f[18] << 8) | f[19];
  });
  assert.deepEqual(ids, [0xffff, 0, 1]);
});
