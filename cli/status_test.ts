/**
 * `vlab status` as text: each device's status bits and negotiated features (as QEMU's
 * `info virtio-status`), and each link direction's drops by cause apart from its waits.
 */

import assert from "node:assert/strict";
import { formatStatus } from "./status.ts";
import type { LabStatus, LinkDirectionStatus, NicStatus } from "../lab/metrics.ts";
import type { LinkDrops, VhostPciLinkSnapshot } from "../lab/snapshot_types.ts";
import { NetCounter, NetDriverCounter } from "../devices/net/metrics.ts";

const zeroDrops: LinkDrops = {
  loss: 0,
  queueLimit: 0,
  partition: 0,
  fullRing: 0,
  linkDown: 0,
  tooBig: 0,
  runt: 0,
  malformed: 0,
  badSlot: 0,
  lengthError: 0,
  notLive: 0,
};

function nic(name: string, features: string[], status: number, names: string[]): NicStatus {
  const zeros = <K extends string>(layout: Record<K, number>) =>
    Object.fromEntries(Object.keys(layout).map((k) => [k, 0])) as Record<K, number>;
  return {
    name,
    mac: "52:54:00:00:00:01",
    ip: "10.0.0.1/24",
    layout: features.includes("RING_PACKED") ? "packed" : "split",
    queueSize: 256,
    link: "a-b",
    status,
    statusNames: names,
    features,
    device: zeros(NetCounter),
    driver: zeros(NetDriverCounter),
  };
}

function direction(over: Partial<LinkDirectionStatus>): LinkDirectionStatus {
  return {
    impair: "no impairment",
    frames: 0,
    bytes: 0,
    drops: { ...zeroDrops },
    dropped: 0,
    waits: { rxBuffer: 0, linkFull: 0 },
    corrupted: 0,
    duplicated: 0,
    reordered: 0,
    queued: 0,
    ...over,
  };
}

const STATUS: LabStatus = {
  name: "pair",
  source: "pair.yaml",
  seed: 1,
  startedAt: "2026-01-01T00:00:00.000Z",
  uptimeSeconds: 3,
  pid: 42,
  vms: [
    {
      name: "a",
      state: "running",
      nics: [nic("eth0", ["VERSION_1", "RING_PACKED", "IN_ORDER"], 0x0f, [
        "ACKNOWLEDGE",
        "DRIVER",
        "FEATURES_OK",
        "DRIVER_OK",
      ])],
      guestDrops: { badChecksum: 4548, noListener: 0 },
      recovery: { backendRestarts: 0, deviceResets: 0 },
    },
    {
      name: "b",
      state: "running",
      nics: [nic("eth0", [], 0, [])],
      guestDrops: {},
      recovery: { backendRestarts: 0, deviceResets: 0 },
    },
  ],
  switches: [{
    name: "sw1",
    kind: "switch",
    ports: ["c-sw1"],
    counters: { forwarded: 7, runts: 2 },
  }],
  links: [{
    name: "a-b",
    endpoints: ["a:eth0", "b:eth0"],
    up: true,
    forward: direction({
      impair: "rate 10mbit",
      frames: 3468,
      drops: { ...zeroDrops, queueLimit: 439_233, loss: 2, lengthError: 1 },
      dropped: 439_236,
    }),
    reverse: direction({ frames: 900, waits: { rxBuffer: 35, linkFull: 0 } }),
  }],
  partitions: [],
};

Deno.test("status shows each device's status bits and negotiated features", () => {
  const text = formatStatus(STATUS);
  assert.match(text, /^ {2}a:eth0 {2}status 0x0f ACKNOWLEDGE DRIVER FEATURES_OK DRIVER_OK$/m);
  assert.match(text, /^ {4}features VERSION_1 RING_PACKED IN_ORDER$/m);
  assert.match(text, /^ {2}b:eth0 {2}status 0x00 \(reset\)$/m);
  assert.match(text, /^ {4}features \(none negotiated\)$/m);
});

Deno.test("status shows every drop cause of a link direction, and waits apart from drops", () => {
  const text = formatStatus(STATUS);
  assert.match(
    text,
    /^ {4}forward 3468 frames \(rate 10mbit\); dropped 439236 \(loss 2, queue limit 439233, length error 1\)$/m,
  );
  assert.match(
    text,
    /^ {4}reverse 900 frames \(no impairment\); no drops; waited for RX buffer 35$/m,
  );
});

Deno.test("status shows a link direction's duplicated and reordered frames after its drops", () => {
  const link = STATUS.links[0];
  const text = formatStatus({
    ...STATUS,
    links: [{
      ...link,
      forward: { ...link.forward, corrupted: 1, duplicated: 3, reordered: 2 },
      reverse: { ...link.reverse, duplicated: 0, reordered: 0 },
    }],
  });
  assert.match(text, /^ {4}forward 3468 frames .*\); corrupted 1; duplicated 3; reordered 2$/m);
  assert.match(
    text,
    /^ {4}reverse 900 frames \(no impairment\); no drops; waited for RX buffer 35$/m,
  );
});

Deno.test("status shows the guest stack's drops by cause and each switch's counters", () => {
  const text = formatStatus(STATUS);
  assert.match(text, /^ {2}a {2}guest stack dropped 4548 \(bad checksum 4548\)$/m);
  assert.doesNotMatch(text, /^ {2}b {2}guest stack/m);
  assert.match(text, /^ {2}sw1: c-sw1\n {4}forwarded 7, runts 2$/m);
});

Deno.test("status says how many stations a switch's MAC table holds, and where to list them", () => {
  const counters = { forwarded: 9, learned: 5, aged: 1, evicted: 1, moved: 2 };
  const text = formatStatus({ ...STATUS, switches: [{ name: "sw1", ports: ["c-sw1"], counters }] });
  assert.match(text, /^ {2}sw1: c-sw1 \(3 stations in its MAC table: vlab fdb sw1\)$/m);
  const one = formatStatus({
    ...STATUS,
    switches: [{ name: "sw1", ports: ["c-sw1"], counters: { learned: 1 } }],
  });
  assert.match(one, /\(1 station in its MAC table/);
});

Deno.test("status says a switch no link joins has no links, with no trailing space", () => {
  const text = formatStatus({ ...STATUS, switches: [{ name: "sw2", ports: [], counters: {} }] });
  assert.match(text, /^ {2}sw2: \(no links\)$/m);
});

Deno.test("status says which CPU a placed VM runs on, and nothing of a VM that is not placed", () => {
  assert.doesNotMatch(formatStatus(STATUS), /placed on CPU/);
  const text = formatStatus({
    ...STATUS,
    vms: [{ ...STATUS.vms[0], cpu: 1 }, ...STATUS.vms.slice(1)],
  });
  assert.match(text, /^ {2}a {2}placed on CPU 1 \(its guest and device workers\)$/m);
  assert.equal(text.split("placed on CPU").length, 2, "only a is placed");
});

Deno.test("status says how often a VM's backend restarted and its guest reset a device", () => {
  assert.doesNotMatch(formatStatus(STATUS), /restarted|reset \d/);
  const text = formatStatus({
    ...STATUS,
    vms: [
      { ...STATUS.vms[0], recovery: { backendRestarts: 1, deviceResets: 3 } },
      { ...STATUS.vms[1], recovery: { backendRestarts: 0, deviceResets: 1 } },
    ],
  });
  assert.match(text, /^ {2}a {2}backend restarted 1 time, devices reset 3 times$/m);
  assert.match(text, /^ {2}b {2}devices reset 1 time$/m);
});

Deno.test("status says why a failed VM failed and its hint, under its name", () => {
  const text = formatStatus({
    ...STATUS,
    vms: [
      {
        ...STATUS.vms[0],
        state: "failed",
        failure: {
          worker: "guest",
          message: 'VM "a" could not start the driver of NIC eth0: no memory',
          hint: 'Give VM "a" more guest memory',
        },
      },
      { ...STATUS.vms[1], failure: { worker: "device", message: "boom" } },
    ],
  });
  // It said `a failed` in the table and nothing more.
  assert.match(
    text,
    /^ {2}a {2}its guest worker failed: VM "a" could not start the driver of NIC eth0: no memory\n {4}hint: Give VM "a" more guest memory$/m,
  );
  assert.match(text, /^ {2}b {2}its device worker failed: boom\n {2}b:eth0 /m);
  assert.doesNotMatch(formatStatus(STATUS), /worker failed/);
});

Deno.test("status shows a vhost-pci peer's IOTLB over the window of the endpoint it serves", () => {
  const ep = {
    device: "eth0",
    endpoint: 0,
    domain: 1,
    mappings: 1,
    hits: 17,
    misses: 1,
    invalidations: 1,
    faults: 0,
    lastFaultIova: null,
    lastFaultAccess: null,
  };
  const text = formatStatus({
    ...STATUS,
    vms: [
      {
        ...STATUS.vms[0],
        iommu: {
          mode: "static",
          domains: [ep],
          peers: [{ ...ep, peer: "b:eth0", hits: 60_000, misses: 2, invalidations: 1, faults: 0 }],
        },
      },
      STATUS.vms[1],
    ],
  });
  assert.match(
    text,
    /^ {2}a:eth0 {2}served by b:eth0 through the window: IOTLB 60000 hits 2 misses, 1 invalidation, 0 faults$/m,
  );
  assert.match(
    text,
    /^ {2}a:eth0 {2}vIOMMU static domain 1: 1 mapping, IOTLB 17 hits 1 miss, 1 invalidation, 0 faults$/m,
  );
});

Deno.test("every count in status agrees in number: 1 frame, 1 mapping, 1 fault, 2 frames", () => {
  const one = {
    device: "eth0",
    endpoint: 0,
    domain: 1,
    mappings: 1,
    hits: 1,
    misses: 1,
    invalidations: 1,
    faults: 1,
    lastFaultIova: null,
    lastFaultAccess: null,
  };
  const text = formatStatus({
    ...STATUS,
    vms: [
      {
        ...STATUS.vms[0],
        iommu: { mode: "static", domains: [one], peers: [{ ...one, peer: "b:eth0" }] },
      },
      STATUS.vms[1],
    ],
    links: [{
      ...STATUS.links[0],
      forward: direction({ frames: 1 }),
      reverse: direction({ frames: 2 }),
    }],
    vhostPciLinks: [{
      name: "c-d",
      frontend: "c:eth0",
      peer: "d:eth0",
      window: "all of c's memory",
      state: "up",
      connection: 1,
      connects: 1,
      disconnects: 0,
      framesIn: 1,
      framesOut: 1,
      framesDropped: 0,
      rxWaits: 0,
      partitionDropped: 0,
      interrupts: 1,
      faults: 1,
      revoked: 1,
      lastFault: null,
    }],
  });
  assert.match(text, /^ {4}forward 1 frame \(no impairment\); no drops$/m);
  assert.match(text, /^ {4}reverse 2 frames /m);
  assert.match(
    text,
    /domain 1: 1 mapping, IOTLB 1 hit 1 miss, 1 invalidation, 1 fault$/m,
  );
  assert.match(text, /through the window: IOTLB 1 hit 1 miss, 1 invalidation, 1 fault$/m);
  assert.match(
    text,
    /^ {2}c-d {2}vhost-pci d:eth0 serves c:eth0 through all of c's memory: up \(connection 1\), 1 frame in, 1 out, 1 interrupt, 1 fault, 1 ring revoked$/m,
  );
  assert.doesNotMatch(text, /\b1 (?!miss\b)[a-z]+s\b/, `a count of 1 with a plural noun:\n${text}`);
});

Deno.test("status lists the partitions in force, one-way ones with an arrow", () => {
  assert.doesNotMatch(formatStatus(STATUS), /partitions:/);
  const text = formatStatus({
    ...STATUS,
    partitions: [
      { id: 1, a: ["a", "b"], b: ["c"], oneWay: false },
      { id: 3, a: ["c"], b: ["a"], oneWay: true },
    ],
  });
  assert.match(text, /^partitions:\n {2}1: a,b ⇹ c\n {2}3: c → a$/m);
});

Deno.test("status gives every VM its row: a vhost-pci peer's interface, and a VM with no interface", () => {
  const text = formatStatus({
    ...STATUS,
    vms: [
      STATUS.vms[0],
      {
        name: "b",
        state: "running",
        nics: [],
        devices: [{
          name: "eth0",
          kind: "vhost-pci-net",
          detail: "serves a:eth0 over a-b",
          ip: "10.0.0.2/24",
          mac: "02:00:00:00:01:00",
          link: "a-b",
          txFrames: 7,
          rxFrames: 9,
          status: 0x0f,
          statusNames: ["ACKNOWLEDGE", "DRIVER", "FEATURES_OK", "DRIVER_OK"],
          features: ["VERSION_1"],
          device: {},
          driver: {},
        }],
        guestDrops: {},
      },
      { name: "c", state: "failed", nics: [], devices: [], guestDrops: {} },
    ],
  });
  assert.match(
    text,
    /^b +running +eth0 +02:00:00:00:01:00 +10\.0\.0\.2\/24 +vhost-pci-net +a-b +7 +9$/m,
  );
  assert.match(text, /^c +failed +- +- +- +- +- +- +-$/m);
  assert.match(text, /^ {2}b:eth0 {2}vhost-pci-net serves a:eth0 over a-b {2}status 0x0f/m);
});

Deno.test("a vhost-pci link's line says what its peer could not deliver, and nothing when all went", () => {
  const link: VhostPciLinkSnapshot = {
    name: "a-b",
    frontend: "a:eth0",
    peer: "b:eth0",
    window: "vIOMMU static (endpoint 0)",
    state: "up",
    connection: 1,
    connects: 1,
    disconnects: 0,
    framesIn: 10,
    framesOut: 9,
    framesDropped: 0,
    rxWaits: 0,
    partitionDropped: 0,
    interrupts: 5,
    faults: 0,
    revoked: 0,
    lastFault: null,
  };
  const line = (l: VhostPciLinkSnapshot) =>
    formatStatus({ ...STATUS, vhostPciLinks: [l] }).split("\n").find((s) =>
      s.includes("vhost-pci")
    );
  assert.doesNotMatch(line(link)!, /dropped|RX buffer|partition/);
  assert.match(
    line({ ...link, framesDropped: 7, rxWaits: 5, partitionDropped: 2 })!,
    /10 frames in, 9 out, 7 dropped \(not connected\), no RX buffer 5, 2 cut by partitions, /,
  );
  // Set down (`vlab link a-b down`): the connection is still served, and every frame dropped.
  assert.match(
    line({ ...link, state: "down", linkDownIn: 3, linkDownOut: 2 })!,
    /: down \(link set down, connection 1\), 10 frames in, 9 out, dropped 3 in, 2 out \(link down\), /,
  );
  assert.match(line({ ...link, state: "down", connection: 0 })!, /: down, 10 frames in/);
});

Deno.test("status lists vsock routers apart from switches, and counts a vsock link's packets", () => {
  const text = formatStatus({
    ...STATUS,
    switches: [
      { ...STATUS.switches[0], kind: "switch" },
      { name: "r1", kind: "vsock-router", ports: ["a-r1-vsock"], counters: { forwarded: 2 } },
    ],
    links: [...STATUS.links, {
      name: "a-r1-vsock",
      endpoints: ["a", "r1"],
      kind: "vsock",
      up: true,
      forward: direction({ frames: 1 }),
      reverse: direction({ frames: 3 }),
    }],
  });
  assert.match(
    text,
    /^switches:\n {2}sw1: c-sw1\n {4}forwarded 7, runts 2\nvsock routers:\n {2}r1:/m,
  );
  assert.match(
    text,
    /^ {2}a-r1-vsock: a ⇄ r1 up\n {4}forward 1 packet \(no impairment\); no drops$/m,
  );
  assert.match(text, /^ {4}reverse 3 packets /m);
  // A status without kinds (a lab older than the field): a router is the entry with no MAC table
  // (no `learned` counter), and links count frames.
  const older = formatStatus({
    ...STATUS,
    switches: [
      { name: "sw1", ports: ["c-sw1"], counters: { forwarded: 7, learned: 1 } },
      { name: "r1", ports: ["a-r1-vsock"], counters: { forwarded: 2 } },
    ],
  });
  assert.match(older, /^switches:\n {2}sw1: c-sw1 \(1 station .*\n.*\nvsock routers:\n {2}r1:/m);
  assert.match(older, /^ {4}reverse 900 frames /m);
});

Deno.test("status says the lab's shared and resident memory on its first line, when the lab gives it", () => {
  const first = (s: LabStatus) => formatStatus(s).split("\n")[0];
  assert.equal(
    first({ ...STATUS, memory: { sharedBytes: 43_028_352, residentBytes: 3.1 * 2 ** 30 } }),
    "lab pair (seed 1, pid 42, up 3 s, 41.0 MiB shared, 3.1 GiB resident) from pair.yaml",
  );
  assert.equal(first(STATUS), "lab pair (seed 1, pid 42, up 3 s) from pair.yaml");
  // The topology's path is the user's: an escape in it is shown escaped, never sent raw.
  assert.equal(
    first({ ...STATUS, source: "/tmp/\x1b[2J/pair.yaml" }),
    "lab pair (seed 1, pid 42, up 3 s) from '/tmp/\\x1b[2J/pair.yaml'",
  );
  // As `vlab up --dry-run` says the plan's shared memory: a vsock-pair's 41.5 MiB was "42 MiB".
  assert.match(
    first({ ...STATUS, memory: { sharedBytes: 41.5 * 2 ** 20, residentBytes: 177 * 2 ** 20 } }),
    /, 41\.5 MiB shared, 177 MiB resident\)/,
  );
});

Deno.test("status says a lab with no link has none, not a links: heading with nothing under it", () => {
  const text = formatStatus({ ...STATUS, links: [], vhostPciLinks: [] });
  assert.match(text, /\nlinks: none$/);
  assert.doesNotMatch(text, /links:\n|links:$/);
});

Deno.test("status says a lab with no VM has none, not a table heading and devices: with nothing", () => {
  const text = formatStatus({ ...STATUS, vms: [], switches: [], links: [], vhostPciLinks: [] });
  assert.equal(text.split("\n").slice(1).join("\n"), "VMs: none\nlinks: none");
  // A VM with no device (`a: {}`): its row, and no devices: heading over nothing.
  const bare = { ...STATUS.vms[0], nics: [], devices: [], guestDrops: {}, recovery: undefined };
  const one = formatStatus({ ...STATUS, vms: [bare], switches: [], links: [], vhostPciLinks: [] });
  assert.match(one, /\na +running +- .*\ndevices: none\nlinks: none$/);
});
