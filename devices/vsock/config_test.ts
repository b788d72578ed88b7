import assert from "node:assert/strict";
import { DeviceId } from "../virtio/constants.ts";
import { encodeVsockConfig, isGuestCid, parseVsockConfig, VSOCK_CONFIG_SIZE } from "./config.ts";

Deno.test("config space is le64 guest_cid with the upper half zero (virtio 1.2 §5.10.4)", () => {
  const b = encodeVsockConfig(0x01020304);
  assert.equal(b.length, VSOCK_CONFIG_SIZE);
  assert.deepEqual([...b], [4, 3, 2, 1, 0, 0, 0, 0]);
  assert.equal(parseVsockConfig(b), 0x01020304);
  assert.equal(DeviceId.VSOCK, 19);
});

Deno.test("CIDs 0, 1, 2 and 0xffffffff are reserved", () => {
  for (const cid of [0, 1, 2, 0xffffffff, -1, 3.5]) assert.equal(isGuestCid(cid), false, `${cid}`);
  for (const cid of [3, 4, 0xfffffffe]) assert.equal(isGuestCid(cid), true, `${cid}`);
});
