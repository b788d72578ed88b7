import { NO_IMPAIRMENT } from "../host/impair.ts";
import assert from "node:assert/strict";
import { topologyFromObject } from "./load.ts";
import type { Topology } from "./types.ts";

function build(value: unknown): Topology {
  const r = topologyFromObject(value);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

Deno.test("built-in defaults apply when a key is absent everywhere", () => {
  const t = build({ name: "x", vms: { a: { nics: { eth0: null } } } });
  assert.equal(t.seed, 1);
  assert.equal(t.vms[0].memoryBytes, 16 * 1024 ** 2);
  assert.equal(t.vms[0].pollUs, 0);
  assert.deepEqual(t.vms[0].nics[0], {
    name: "eth0",
    mac: "02:00:00:00:00:00",
    ip: null,
    prefix: null,
    queueSize: 256,
    layout: "split",
    features: { eventIdx: true, indirect: false, mrgRxbuf: true, inOrder: false, csum: true },
    mtu: 1500,
    iommu: false,
  });
});

Deno.test("NIC keys: defaults.nic < VM < NIC", () => {
  const t = build({
    name: "x",
    defaults: { nic: { queue_size: 64, mtu: 9000, layout: "packed", features: ["indirect"] } },
    vms: {
      a: { queue_size: 128, mtu: 1400, nics: { e0: { mtu: 1280 }, e1: {} } },
      b: { nics: { e0: { features: [] } } },
    },
  });
  const [a0, a1] = t.vms[0].nics;
  const [b0] = t.vms[1].nics;
  assert.deepEqual([a0.queueSize, a0.mtu, a0.layout], [128, 1280, "packed"]);
  assert.deepEqual([a1.queueSize, a1.mtu], [128, 1400]);
  assert.deepEqual([b0.queueSize, b0.mtu], [64, 9000]);
  assert.equal(a0.features.indirect, true);
  assert.equal(a0.features.eventIdx, false);
  assert.deepEqual(b0.features, {
    eventIdx: false,
    indirect: false,
    mrgRxbuf: false,
    inOrder: false,
    csum: false,
  });
});

Deno.test("VM keys: defaults.vm < VM", () => {
  const t = build({
    name: "x",
    defaults: { vm: { memory: "64MiB", poll_us: 0 } },
    vms: { a: { memory: 2097152 }, b: null },
  });
  assert.deepEqual(t.vms.map((v) => [v.memoryBytes, v.pollUs]), [[2097152, 0], [
    64 * 1024 ** 2,
    0,
  ]]);
});

Deno.test("impairments: defaults.link < link < forward or reverse", () => {
  const t = build({
    name: "x",
    defaults: { link: { delay: "1ms", loss: "1%", limit: 50 } },
    vms: { a: { nics: { eth0: {} } }, b: { nics: { eth0: {} } } },
    links: [{
      endpoints: ["a", "b"],
      loss: "2%",
      rate: "10mbit",
      forward: { loss: "5%", reorder: "3%" },
      reverse: { delay: "20ms" },
    }],
  });
  const { forward, reverse, name, endpoints } = t.links[0];
  assert.equal(name, "a-b");
  assert.deepEqual(endpoints, [{ kind: "nic", vm: "a", nic: "eth0" }, {
    kind: "nic",
    vm: "b",
    nic: "eth0",
  }]);
  assert.deepEqual(forward, {
    ...NO_IMPAIRMENT,
    delayUs: 1000,
    jitterUs: 0,
    lossPct: 5,
    corruptPct: 0,
    duplicatePct: 0,
    reorderPct: 3,
    rateBps: 10_000_000,
    limit: 50,
  });
  assert.deepEqual([reverse.delayUs, reverse.lossPct, reverse.reorderPct, reverse.rateBps], [
    20_000,
    2,
    0,
    10_000_000,
  ]);
});

Deno.test("impairments: the netem vocabulary resolves, with tc's defaults for loss models", () => {
  const t = build({
    name: "x",
    vms: { a: { nics: { eth0: {} } }, b: { nics: { eth0: {} } } },
    links: [{
      endpoints: ["a", "b"],
      delay: "10ms",
      jitter: "2ms",
      delay_correlation: "25%",
      distribution: "pareto",
      duplicate: "1%",
      duplicate_correlation: "5%",
      corrupt: "2%",
      corrupt_correlation: "6%",
      reorder: "10%",
      reorder_correlation: "50%",
      gap: 5,
      rate: "1mbit",
      overhead: -4,
      forward: { loss_state: "1% 30% 5%" },
      reverse: { loss_gemodel: "2%", loss_correlation: "20%" },
    }],
  });
  const { forward, reverse } = t.links[0];
  assert.deepEqual(
    [forward.delayCorrPct, forward.distribution, forward.duplicateCorrPct, forward.corruptCorrPct],
    [25, "pareto", 5, 6],
  );
  assert.deepEqual([forward.reorderCorrPct, forward.reorderGap, forward.overheadBytes], [
    50,
    5,
    -4,
  ]);
  assert.deepEqual(forward.lossModel, { kind: "state", p13: 1, p31: 30, p32: 5, p23: 100, p14: 0 });
  assert.deepEqual(reverse.lossModel, {
    kind: "gemodel",
    p: 2,
    r: 98,
    oneMinusH: 100,
    oneMinusK: 0,
  });
  assert.equal(reverse.lossCorrPct, 20);
});

Deno.test("explicit MACs are kept lower-case; the others are derived from file order", () => {
  const t = build({
    name: "x",
    vms: { a: { nics: { e0: {}, e1: { mac: "02:AA:00:00:00:01" } } }, b: { nics: { e0: {} } } },
  });
  assert.deepEqual(t.vms.flatMap((v) => v.nics.map((n) => n.mac)), [
    "02:00:00:00:00:00",
    "02:aa:00:00:00:01",
    "02:00:00:01:00:00",
  ]);
});

Deno.test("switch links get switch endpoints and default names", () => {
  const t = build({
    name: "x",
    vms: { h1: { nics: { eth0: { ip: "10.0.0.1/24" } } } },
    switches: { sw1: { ports_max: 2 }, sw2: {} },
    links: [{ endpoints: ["h1:eth0", "sw1"] }, { endpoints: ["sw1", "sw2"] }],
  });
  assert.deepEqual(t.switches, [{ name: "sw1", portsMax: 2 }, { name: "sw2", portsMax: 64 }]);
  assert.deepEqual(t.links.map((l) => l.name), ["h1-sw1", "sw1-sw2"]);
  assert.deepEqual(t.links[1].endpoints, [{ kind: "switch", switch: "sw1" }, {
    kind: "switch",
    switch: "sw2",
  }]);
});

Deno.test("a switch refuses every link beyond ports_max, not only the first", () => {
  const r = topologyFromObject({
    name: "x",
    vms: { a: { nics: { eth0: {} } }, b: { nics: { eth0: {} } }, c: { nics: { eth0: {} } } },
    switches: { sw1: { ports_max: 1 } },
    links: [{ endpoints: ["a", "sw1"] }, { endpoints: ["b", "sw1"] }, {
      endpoints: ["sw1", "c"],
    }],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => [i.code, i.path, i.message]), [[
    "switch-full",
    "links[1].endpoints[1]",
    'Switch "sw1" has no free port for link "b-sw1" (ports_max 1)',
  ], [
    "switch-full",
    "links[2].endpoints[0]",
    'Switch "sw1" has no free port for link "sw1-c" (ports_max 1)',
  ]]);
});

Deno.test("a queue size set once in defaults is reported once", () => {
  const r = topologyFromObject({
    name: "x",
    defaults: { nic: { queue_size: 100 } },
    vms: { a: { nics: { e0: {}, e1: {} } }, b: { nics: { e0: {} } } },
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => i.path), ["defaults.nic.queue_size"]);
});

Deno.test("/31 and /32 addresses are not network or broadcast addresses", () => {
  const t = build({
    name: "x",
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.0/31" } } },
      b: { nics: { eth0: { ip: "10.0.0.1/31" } } },
    },
    links: [{ endpoints: ["a", "b"] }],
  });
  assert.deepEqual(t.vms.map((v) => v.nics[0].ip), ["10.0.0.0", "10.0.0.1"]);
});

Deno.test("NICs on different segments may share an IP", () => {
  const t = build({
    name: "x",
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    },
  });
  assert.equal(t.vms.length, 2);
});

Deno.test("the memory check counts RX buffers sized from the MTU without mrg_rxbuf, and indirect tables", () => {
  const nic = (features: string[]) => ({
    name: "x",
    vms: { a: { memory: "4MiB", nics: { eth0: { mtu: 9000, features } } } },
  });
  const tooSmall = (features: string[]) => {
    const r = topologyFromObject(nic(features));
    return !r.ok && JSON.stringify(r.error).includes("memory-too-small");
  };
  // 256 RX buffers of 9026 bytes (not 1526) and as many TX buffers: about 4.6 MiB.
  assert.equal(tooSmall(["event_idx"]), true);
  // With mrg_rxbuf, RX buffers stay 1536 bytes: about 2.8 MiB fits.
  assert.equal(tooSmall(["event_idx", "mrg_rxbuf"]), false);
  // Exactly: page 0, 2 × 3 ring pages, 256 × 1536 RX, 256 TX buffers a cache line apart (9026
  // bytes rounded up to 9088: 568 pages) = 2684 KiB.
  const at = (memory: string, features: string[]) =>
    topologyFromObject({
      name: "x",
      vms: { a: { memory, nics: { eth0: { mtu: 9000, features } } } },
    });
  assert.ok(at("2684KiB", ["mrg_rxbuf"]).ok, "2684 KiB is enough without indirect tables");
  assert.ok(!at("2680KiB", ["mrg_rxbuf"]).ok, "2680 KiB is not");
  // Indirect tables: 2 queues × 256 tables × 4 entries × 16 bytes = 32 KiB more.
  const tables = at("2684KiB", ["mrg_rxbuf", "indirect"]);
  assert.ok(!tables.ok && JSON.stringify(tables.error).includes("memory-too-small"));
  assert.ok(at("2716KiB", ["mrg_rxbuf", "indirect"]).ok);
});

Deno.test("the memory check counts the vIOMMU driver's queues and buffers (176 KiB)", () => {
  const at = (memory: string, iommu: boolean) =>
    topologyFromObject({
      name: "x",
      vms: {
        a: {
          memory,
          ...(iommu ? { iommu: { mode: "strict" } } : {}),
          nics: { eth0: { mtu: 9000, features: ["mrg_rxbuf"], iommu } },
        },
      },
    });
  assert.ok(at("2684KiB", false).ok, "the NIC alone fits");
  const small = at("2684KiB", true);
  assert.ok(!small.ok && JSON.stringify(small.error).includes("memory-too-small"));
  assert.match(JSON.stringify(!small.ok && small.error), /and its vIOMMU driver/);
  // 6 ring pages, 256 request buffers of 592 bytes (37 pages), 64 fault reports (1 page).
  assert.ok(at("2860KiB", true).ok);
  assert.ok(!at("2856KiB", true).ok);
});

Deno.test("vsock routers: each VM linked to one becomes a port; router links are not VM pairs", () => {
  const r = topologyFromObject({
    name: "x",
    vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } },
    vsock_routers: { r1: {} },
    links: [{ kind: "vsock", endpoints: ["a", "r1"] }, { kind: "vsock", endpoints: ["r1", "b"] }],
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.deepEqual(r.value.vsockRouters, [{
    name: "r1",
    ports: [{ link: "a-r1-vsock", vm: "a" }, { link: "r1-b-vsock", vm: "b" }],
  }]);
  assert.deepEqual(r.value.vsockLinks, []);
});

Deno.test("vsock routers: two routers on one link, a name taken by a VM, a VM linked twice", () => {
  const codes = (value: Record<string, unknown>) => {
    const r = topologyFromObject(value);
    return r.ok ? [] : r.error.map((i) => i.code);
  };
  const vms = { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } };
  assert.deepEqual(
    codes({
      name: "x",
      vms,
      vsock_routers: { r1: {}, r2: {} },
      links: [{ kind: "vsock", endpoints: ["r1", "r2"] }],
    }),
    ["vsock-link"],
  );
  assert.deepEqual(codes({ name: "x", vms, vsock_routers: { a: {} } }), ["duplicate-name"]);
  assert.deepEqual(
    codes({
      name: "x",
      vms,
      vsock_routers: { r1: {} },
      links: [{ kind: "vsock", endpoints: ["a", "r1"] }, { kind: "vsock", endpoints: ["a", "b"] }],
    }),
    ["vsock-link"],
  );
});

Deno.test("a VM linked twice by vsock names the link it already has and the one it cannot take", () => {
  const r = topologyFromObject({
    name: "x",
    vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } }, c: { vsock: { cid: 5 } } },
    vsock_routers: { r1: {} },
    links: [
      { kind: "vsock", endpoints: ["a", "b"] },
      { kind: "vsock", endpoints: ["c", "b"] },
      { kind: "vsock", name: "to-r1", endpoints: ["c", "r1"] },
      { kind: "vsock", endpoints: ["c", "r1"] },
    ],
  });
  assert.ok(!r.ok);
  // It said 'VM "b" already has a vsock link', and not which.
  assert.deepEqual(r.error.map((i) => `${i.path}: ${i.message} / ${i.hint}`), [
    'links[1].endpoints[1]: VM "b" already has vsock link "a-b-vsock" (links[0]): it cannot also ' +
    'take "c-b-vsock" / a VM\'s vsock device takes one link: to reach more VMs, link each to a ' +
    "vsock router (vsock_routers)",
    'links[3].endpoints[0]: VM "c" already has vsock link "to-r1" (links[2]): it cannot also take ' +
    '"c-r1-vsock" / a VM\'s vsock device takes one link: to reach more VMs, link each to a vsock ' +
    "router (vsock_routers)",
  ]);
});

Deno.test("a vsock link from a VM to itself is said once, as that, even when the VM has a link", () => {
  const r = topologyFromObject({
    name: "x",
    vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } },
    links: [
      { kind: "vsock", endpoints: ["a", "b"] },
      { kind: "vsock", endpoints: ["a", "a"] },
      { kind: "vsock", endpoints: ["z", "z"] },
    ],
  });
  assert.ok(!r.ok);
  // It said 'VM "a" already has vsock link "a-b-vsock"' twice, once per endpoint.
  assert.deepEqual(r.error.map((i) => `${i.path}: ${i.message}`), [
    'links[1].endpoints: Vsock link joins VM "a" to itself',
    'links[2].endpoints[0]: Unknown VM "z" in vsock link endpoint',
  ]);
});

Deno.test("a VM's memory must hold its vsock driver's rings and 64 KiB buffers too", () => {
  const vm = (memory: string) =>
    topologyFromObject({ name: "x", vms: { a: { memory, vsock: { cid: 3 } } } });
  const small = vm("4MiB");
  assert.ok(!small.ok);
  assert.match(
    small.error[0].message,
    /^VM "a" needs 4\.[0-9]MiB of guest memory for its devices' rings and buffers, got 4MiB$/,
  );
  assert.ok(vm("5MiB").ok);
});

Deno.test("an endpoint of the wrong kind of node says what it is and which link kind fits", () => {
  const issues = (links: unknown[]) => {
    const r = topologyFromObject({
      name: "x",
      vms: {
        a: { nics: { eth0: {} }, vsock: { cid: 3 } },
        b: { nics: { eth0: {} }, vsock: { cid: 4 } },
        c: { vsock: { cid: 5 } },
      },
      switches: { sw1: {} },
      vsock_routers: { r1: {} },
      links,
    });
    assert.ok(!r.ok);
    return r.error.map((i) => `${i.code} ${i.path}: ${i.message} / ${i.hint}`);
  };
  // A net link to a vsock router.
  assert.deepEqual(issues([{ endpoints: ["a", "r1"] }, { endpoints: ["b:eth0", "r1:eth0"] }]), [
    'bad-endpoint links[0].endpoints[1]: Endpoint "r1" is a vsock router, which takes vsock ' +
    "links only / to join a VM's vsock device to it, write `kind: vsock` on the link",
    'bad-endpoint links[1].endpoints[1]: Endpoint "r1:eth0" names vsock router "r1", which ' +
    "takes vsock links only / to join a VM's vsock device to it, write `kind: vsock` on the link",
  ]);
  // A vhost-pci link to a vsock router or a switch.
  assert.deepEqual(
    issues([{ kind: "vhost-pci", endpoints: ["a:eth0", "r1"] }, {
      kind: "vhost-pci",
      endpoints: ["b:eth0", "sw1"],
    }]),
    [
      'vhost-pci-link links[0].endpoints[1]: Endpoint "r1" is a vsock router: a vhost-pci ' +
      "link joins two VMs' NICs / a vsock router takes vsock links (`kind: vsock`); " +
      'write "vm:nic" here',
      'vhost-pci-link links[1].endpoints[1]: Vhost-pci link "b-sw1" cannot end at switch ' +
      '"sw1" / a vhost-pci link joins two VMs\' NICs: endpoints: ["a:eth0", "b:eth0"]; a ' +
      "switch takes net links (no `kind`)",
    ],
  );
  // A vsock link to a switch or to a NIC.
  assert.deepEqual(
    issues([{ kind: "vsock", endpoints: ["a", "sw1"] }, {
      kind: "vsock",
      endpoints: ["b:eth0", "r1"],
    }]),
    [
      'vsock-link links[0].endpoints[1]: Endpoint "sw1" is a switch: a vsock link joins ' +
      "VMs' vsock devices, or a VM and a vsock router / a switch takes net links: remove " +
      "`kind: vsock` to join a NIC to it",
      'vsock-link links[1].endpoints[0]: Endpoint "b:eth0" names a NIC: a vsock link joins ' +
      'VMs\' vsock devices, by VM name / write "b"',
    ],
  );
  // A net link to a VM with a vsock device and no NIC.
  assert.deepEqual(issues([{ endpoints: ["c", "a"] }]), [
    'no-nic links[0].endpoints[0]: VM "c" has no NIC to link / add one under vms.c.nics, or ' +
    "write `kind: vsock` on the link to join its vsock device",
  ]);
});

Deno.test("a bad name gets a name to try, with a prefix when it does not start with a letter", () => {
  const r = topologyFromObject({
    name: "x",
    vms: { "1": { nics: { "0": {} } }, "Web 1": {}, "-a": {} },
    switches: { "2": {} },
    vsock_routers: { "3": {} },
    links: [{ name: "4", endpoints: ["1", "2"] }],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => `${i.path}: ${i.hint}`), [
    'vms["1"]: try "vm1"',
    'vms["1"].nics["0"]: try "eth0"',
    'vms["Web 1"]: try "web-1"',
    'vms["-a"]: try "a"',
    'switches["2"]: try "sw2"',
    'links[0].name: try "link4"',
    'vsock_routers["3"]: try "router3"',
  ]);
});

Deno.test("the memory hint names queue_size only for a VM with NICs", () => {
  const hint = (vm: Record<string, unknown>) => {
    const r = topologyFromObject({ name: "x", vms: { a: vm } });
    assert.ok(!r.ok);
    assert.equal(r.error[0].code, "memory-too-small");
    return r.error[0].hint;
  };
  assert.equal(hint({ memory: "4MiB", vsock: { cid: 3 } }), "set memory: 5MiB or more");
  assert.equal(
    hint({ memory: "1MiB", vsock: { cid: 3 }, nics: { eth0: { queue_size: 4096 } } }),
    "set memory: 17MiB or more, or use a smaller queue_size",
  );
});

Deno.test("tx_timeout 0 is the default watchdog (5 s), as Linux's watchdog_timeo; others round to whole ms", () => {
  const ms = (tx_timeout: string | number) =>
    build({ name: "x", vms: { a: { tx_timeout, nics: { eth0: {} } } } }).vms[0].nics[0]
      .txTimeoutMs;
  for (const zero of [0, "0", "0s", "0ms"]) assert.equal(ms(zero), undefined, String(zero));
  assert.equal(ms("1us"), 1);
  assert.equal(ms("1500us"), 2);
  assert.equal(ms("2s"), 2000);
});
