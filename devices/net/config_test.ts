import assert from "node:assert/strict";
import {
  driverLinkUp,
  driverMtu,
  encodeNetConfig,
  maxFrameLen,
  NET_CONFIG_SIZE,
  NET_FEATURE_NAMES,
  NET_HDR_SIZE,
  NetConfigOffset,
  NetFeature,
  NetHdr,
  NetStatus,
  parseNetConfig,
  readConfigValue,
  readLe16,
  writeRxHeader,
  writeTxHeader,
} from "./config.ts";

Deno.test("feature bits and layouts match virtio 1.2 §5.1", () => {
  assert.deepEqual(
    [NetFeature.CSUM, NetFeature.MTU, NetFeature.MAC, NetFeature.MRG_RXBUF, NetFeature.STATUS],
    [0, 3, 5, 15, 16],
  );
  assert.equal(NET_FEATURE_NAMES[15], "MRG_RXBUF");
  assert.deepEqual(
    [
      NetConfigOffset.MAC,
      NetConfigOffset.STATUS,
      NetConfigOffset.MAX_VIRTQUEUE_PAIRS,
      NetConfigOffset.MTU,
    ],
    [0, 6, 8, 10],
  );
  assert.equal(NET_CONFIG_SIZE, 12);
  assert.equal(NET_HDR_SIZE, 12);
  assert.deepEqual(Object.values(NetHdr), [0, 1, 2, 4, 6, 8, 10]);
  assert.equal(maxFrameLen(1500), 1514);
});

Deno.test("the config space encodes mac, status, pairs and mtu little-endian", () => {
  const bytes = encodeNetConfig({
    mac: new Uint8Array([1, 2, 3, 4, 5, 6]),
    linkUp: true,
    maxVirtqueuePairs: 1,
    mtu: 9000,
  });
  assert.deepEqual([...bytes], [1, 2, 3, 4, 5, 6, 1, 0, 1, 0, 0x28, 0x23]);
  assert.equal(readConfigValue(bytes, 0, 4), 0x04030201);
  assert.equal(readConfigValue(bytes, 10, 2), 9000);
  assert.equal(readConfigValue(bytes, 11, 2), 0);
  assert.equal(readConfigValue(bytes, -1, 1), 0);
  assert.deepEqual(parseNetConfig(bytes), { mac: "01:02:03:04:05:06", linkUp: true, mtu: 9000 });
  assert.deepEqual(parseNetConfig(new Uint8Array(0)), {
    mac: "00:00:00:00:00:00",
    linkUp: false,
    mtu: 0,
  });
});

Deno.test("bad MAC or MTU is refused when building the config", () => {
  const base = { linkUp: true, maxVirtqueuePairs: 1 };
  assert.throws(
    () => encodeNetConfig({ ...base, mac: new Uint8Array(5), mtu: 1500 }),
    /6 bytes, got 5/,
  );
  assert.throws(() => encodeNetConfig({ ...base, mac: new Uint8Array(6), mtu: 67 }), /got 67/);
});

Deno.test("headers: RX sets only num_buffers, TX is all zero", () => {
  const b = new Uint8Array(14).fill(0xff);
  writeRxHeader(b, 1, 0x0102);
  assert.deepEqual([...b], [0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0xff]);
  assert.equal(readLe16(b, 1 + NetHdr.NUM_BUFFERS), 0x0102);
  writeTxHeader(b, 1);
  assert.deepEqual([...b], [0xff, ...new Array(12).fill(0), 0xff]);
});

Deno.test("the driver takes the MTU from config only when VIRTIO_NET_F_MTU is negotiated (virtio 5.1.4.2)", () => {
  assert.equal(driverMtu(true, 9000), 9000);
  assert.equal(driverMtu(true, 68), 68);
  assert.equal(driverMtu(false, 9000), 1500);
  assert.equal(driverMtu(true, 67), 1500, "below 68 is not an MTU");
  assert.equal(driverMtu(true, 0), 1500);
});

Deno.test("without VIRTIO_NET_F_STATUS the link is up whatever the status field says (virtio 5.1.4.2)", () => {
  assert.equal(driverLinkUp(false, 0), true);
  assert.equal(driverLinkUp(true, 0), false);
  assert.equal(driverLinkUp(true, NetStatus.LINK_UP), true);
  assert.equal(driverLinkUp(true, 2), false, "only bit 0 is the link");
});
