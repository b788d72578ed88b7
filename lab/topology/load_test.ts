import assert from "node:assert/strict";
import { parseTopology, topologyFromObject } from "./load.ts";

/** Two VMs with one NIC each, for rows that only add a link section. */
const AB = "name: x\nvms:\n  a: { nics: { eth0: {} } }\n  b: { nics: { eth0: {} } }\n";

interface Row {
  what: string;
  yaml: string;
  /** "line:col code message" of the first issue. */
  first: string;
  count?: number;
}

const ROWS: Row[] = [
  {
    what: "YAML syntax error",
    yaml: "name: x\nvms: { a: {}\n",
    first: "2:6 yaml-syntax Unclosed flow map: this `{` has no closing `}`",
  },
  {
    what: "duplicate map key",
    yaml: "name: x\nname: y\nvms: {}\n",
    first: '2:1 duplicate-key Duplicate key "name"',
  },
  {
    what: "unknown top-level key",
    yaml: "name: x\nvms: {}\nlnks: []\n",
    first: '3:1 unknown-key Unknown key "lnks" at the top level',
  },
  {
    what: "unknown key in a VM",
    yaml: "name: x\nvms:\n  a:\n    lyout: packed\n",
    first: '4:5 unknown-key Unknown key "lyout" in vms.a',
  },
  {
    what: "wrong type",
    yaml: "name: x\nvms:\n  a:\n    poll_us: fast\n",
    first: '4:14 wrong-type vms.a.poll_us must be a number, got "fast"',
  },
  {
    what: "missing required key",
    yaml: "name: x\n",
    first: '1:1 missing-key Missing key "vms"',
  },
  {
    what: "bad VM name",
    yaml: "name: x\nvms:\n  Web1: {}\n",
    first:
      '3:3 bad-name Bad VM name "Web1": use 1-16 of a-z, 0-9, "_" and "-", starting with a letter',
  },
  {
    what: "VM and switch with one name",
    yaml: "name: x\nvms:\n  a: {}\nswitches:\n  a: {}\n",
    first: '5:3 duplicate-name Name "a" is used by a VM and a switch',
  },
  {
    what: "duplicate default link name",
    yaml: "name: x\nvms:\n  a: { nics: { e0: {}, e1: {} } }\n  b: { nics: { e0: {}, e1: {} } }\n" +
      "links:\n  - endpoints: [a:e0, b:e0]\n  - endpoints: [a:e1, b:e1]\n",
    first: '7:5 duplicate-link-name Link name "a-b" is already used by links[0]',
  },
  {
    what: "duplicate MAC",
    yaml: 'name: x\nvms:\n  a: { nics: { eth0: { mac: "02:00:00:00:00:09" } } }\n' +
      '  b: { nics: { eth0: { mac: "02:00:00:00:00:09" } } }\n',
    first:
      '4:29 duplicate-mac MAC 02:00:00:00:00:09 of NIC "b:eth0" is already used by NIC "a:eth0"',
  },
  {
    what: "duplicate IP on one segment",
    yaml: "name: x\nvms:\n  a: { nics: { eth0: { ip: 10.0.0.1/24 } } }\n" +
      "  b: { nics: { eth0: { ip: 10.0.0.1/24 } } }\nlinks:\n  - endpoints: [a, b]\n",
    first:
      '4:28 duplicate-ip IP 10.0.0.1 of NIC "b:eth0" is already used by NIC "a:eth0" on the same L2 segment',
  },
  {
    what: "endpoint naming a missing VM",
    yaml: AB + "links:\n  - endpoints: [a, bb:eth0]\n",
    first: '6:20 unknown-endpoint Unknown VM "bb" in endpoint "bb:eth0"',
  },
  {
    what: "endpoint naming a missing NIC",
    yaml: AB + "links:\n  - endpoints: [a:eth1, b]\n",
    first: '6:17 unknown-endpoint VM "a" has no NIC "eth1"',
  },
  {
    what: "endpoint naming a missing switch",
    yaml: AB + "switches: { sw1: {} }\nlinks:\n  - endpoints: [a, sw2]\n",
    first: '7:20 unknown-endpoint Unknown VM or switch "sw2"',
  },
  {
    what: "NIC used by two links",
    yaml: AB + "switches: { sw1: {} }\nlinks:\n  - endpoints: [a, b]\n  - endpoints: [a, sw1]\n",
    first: '8:17 nic-reused NIC "a:eth0" is already used by link "a-b"',
  },
  {
    what: "link to itself",
    yaml: AB + "links:\n  - endpoints: [a:eth0, a]\n",
    first: '6:25 self-link Link "a-a" connects "a:eth0" to itself',
  },
  {
    what: "VM shorthand with several NICs",
    yaml: "name: x\nvms:\n  a: { nics: { e0: {}, e1: {} } }\n  b: { nics: { e0: {} } }\n" +
      "links:\n  - endpoints: [a, b]\n",
    first: '6:17 ambiguous-nic VM "a" has 2 NICs, so endpoint "a" is ambiguous',
  },
  {
    what: "host IP equal to the broadcast address",
    yaml: "name: x\nvms:\n  a: { nics: { eth0: { ip: 10.0.0.255/24 } } }\n",
    first: '3:28 bad-address IP 10.0.0.255 of NIC "a:eth0" is the broadcast address of 10.0.0.0/24',
  },
  {
    what: "two subnets on one segment",
    yaml: "name: x\nvms:\n  a: { nics: { eth0: { ip: 10.0.0.1/24 } } }\n" +
      "  b: { nics: { eth0: { ip: 10.0.1.2/24 } } }\nswitches: { sw1: {} }\n" +
      "links:\n  - endpoints: [a, sw1]\n  - endpoints: [b, sw1]\n",
    first:
      '4:28 subnet-mismatch NIC "b:eth0" (10.0.1.2/24) shares an L2 segment with NIC "a:eth0" ' +
      "but is not in its subnet 10.0.0.0/24",
  },
  {
    what: "split queue size not a power of 2",
    yaml: "name: x\nvms:\n  a: { nics: { eth0: { queue_size: 300 } } }\n",
    first: "3:36 bad-queue-size Queue size must be a power of 2 for the split layout, got 300",
  },
  {
    what: "packed queue size below the lab minimum (the schema's minimum too)",
    yaml: "name: x\nvms:\n  a: { layout: packed, nics: { eth0: { queue_size: 5 } } }\n",
    first: "3:52 out-of-range queue_size must be between 8 and 32768, got 5",
  },
  {
    what: "memory too small for the NICs' rings and buffers",
    yaml: "name: x\nvms:\n  a:\n    memory: 4MiB\n    nics: { eth0: { queue_size: 4096 } }\n",
    first:
      '4:13 memory-too-small VM "a" needs 12.3MiB of guest memory for its NICs\' rings and buffers, got 4MiB',
  },
  {
    what: "multicast MAC",
    yaml: 'name: x\nvms:\n  a: { nics: { eth0: { mac: "03:00:00:00:00:01" } } }\n',
    first:
      '3:29 mac-not-unicast MAC "03:00:00:00:00:01" is a multicast address (low bit of the first octet set)',
  },
  {
    what: "all-zero MAC",
    yaml: 'name: x\nvms:\n  a: { nics: { eth0: { mac: "00:00:00:00:00:00" } } }\n',
    first: '3:29 mac-zero MAC "00:00:00:00:00:00" is all zeros',
  },
  {
    what: "bad unit",
    yaml: AB + "links:\n  - endpoints: [a, b]\n    delay: 10 parsecs\n",
    first: '7:12 bad-unit Cannot read delay "10 parsecs": expected a duration',
  },
  {
    what: "percentage out of range",
    yaml: AB + "links:\n  - endpoints: [a, b]\n    loss: 150%\n",
    first: "7:11 out-of-range loss must be between 0% and 100%, got 150%",
  },
  {
    what: "reorder without delay",
    yaml: AB + "links:\n  - endpoints: [a, b]\n    forward: { reorder: 5% }\n",
    first: '7:25 reorder-without-delay Cannot reorder on link "a-b" (forward) without a delay',
  },
  {
    what: "loop among switches",
    yaml: "name: x\nvms: {}\nswitches: { s1: {}, s2: {}, s3: {} }\nlinks:\n" +
      "  - endpoints: [s1, s2]\n  - endpoints: [s2, s3]\n  - endpoints: [s3, s1]\n",
    // It named no switch and no link of the loop.
    first: '7:5 switch-loop Link "s3-s1" closes a loop among switches: "s3" and "s1" are already ' +
      'joined by links "s2-s3", "s1-s2"',
  },
  {
    what: "memory too small",
    yaml: "name: x\nvms:\n  a: { memory: 512KiB }\n",
    first: "3:16 out-of-range memory must be between 1MiB and 2GiB, got 512KiB",
  },
  {
    what: "unknown layout",
    yaml: "name: x\nvms:\n  a: { layout: splt }\n",
    first: '3:16 unknown-value Unknown layout "splt"',
  },
];

for (const row of ROWS) {
  Deno.test(`reports ${row.what} at its node`, () => {
    const r = parseTopology(row.yaml, "t.yaml");
    assert.equal(r.ok, false, "expected the topology to be refused");
    if (r.ok) return;
    const i = r.error[0];
    assert.equal(`${i.line}:${i.column} ${i.code} ${i.message}`, row.first);
    assert.equal(r.error.length, row.count ?? 1, JSON.stringify(r.error, null, 1));
  });
}

Deno.test("gives did-you-mean hints for misspelt keys and names", () => {
  const r = parseTopology(AB + "lnks: []\nlinks:\n  - endpoints: [a, bb:eth0]\n", "t.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => i.hint), ["did you mean `links`?", "did you mean `b`?"]);
});

Deno.test("reports every problem of a file at once, across stages", () => {
  const yaml =
    "name: x\nvms:\n  a: { memory: lots, nics: { eth0: {} } }\n  b: { nics: { eth0: {} } }\n" +
    "links:\n  - endpoints: [a, c]\n";
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code}`), [
    "3:16 bad-unit",
    "6:20 unknown-endpoint",
  ]);
});

Deno.test("does not report endpoints of a VM whose entry was refused", () => {
  const yaml = "name: x\nvms:\n  a: { nics: [eth0] }\n  b: { nics: { eth0: {} } }\n" +
    "links:\n  - endpoints: [a:eth0, b]\n";
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => i.code), ["wrong-type"]);
  assert.equal(r.error[0].message, "vms.a.nics must be a map, got a list");
});

Deno.test("an empty file is refused as the wrong type", () => {
  const r = parseTopology("", "t.yaml");
  assert.ok(!r.ok);
  assert.equal(r.error[0].code, "wrong-type");
  assert.equal(r.error[0].message, "The topology must be a map, got nothing");
});

Deno.test("issues from an object carry paths and no lines", () => {
  const r = topologyFromObject({ name: "x", vms: { a: { memory: "1TiB" } } });
  assert.ok(!r.ok);
  assert.deepEqual(r.error, [{
    code: "bad-unit",
    path: "vms.a.memory",
    line: null,
    column: null,
    message: 'Cannot read memory "1TiB": expected a size',
    hint: 'write a size such as "16MiB", "1GiB" or a number of bytes',
  }]);
});

Deno.test("an alias bomb is refused, not expanded", () => {
  const yaml = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" +
    Array.from({ length: 8 }, (_, i) => {
      const prev = i === 0 ? "a" : `b${i - 1}`;
      return `b${i}: &b${i} [${Array(10).fill(`*${prev}`).join(", ")}]`;
    }).join("\n") + "\n";
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok);
  assert.equal(r.error[0].code, "yaml-syntax");
});

Deno.test("a broken link hides nothing: shape and graph problems of the whole file in one run", () => {
  const yaml = [
    "name: x", //                                                    1
    "vms:", //                                                       2
    "  a: { nics: { eth0: { ip: 10.0.0.1/24 }, eth1: {} } }", //     3
    "  b: { nics: { eth0: { ip: 10.0.0.1/24 } }, vsock: { cid: 3 } }", // 4
    "  c: { vsock: { cid: 3 }, iommu: {} }", //                      5
    "switches: { sw1: {} }", //                                      6
    "links:", //                                                     7
    "  - endpoints: [a:eth0, b:eth0]", //                            8
    "  - endpoints: [a:eth0, sw1]", //                               9
    "  - endpoints: [a:eth1]", //                                   10
    '  - endpoints: "a:eth1 sw1"', //                                11
    "  - endpoints: [a:eth1, 5]", //                                12
    "  - 7", //                                                     13
    "  - endpoints: [d:eth0, sw1]", //                              14
    "  - endpoints: [sw1, sw1]", //                                 15
    "  - endpoints: [a:eth1, sw1]", //                              16
    "    reorder: 5%", //                                           17
    "    dealy: 5ms", //                                            18
  ].join("\n") + "\n";
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`), [
    '4:28 duplicate-ip IP 10.0.0.1 of NIC "b:eth0" is already used by NIC "a:eth0" on the same L2 segment',
    '5:22 duplicate-cid VM "c" has vsock CID 3, already the CID of VM "b"',
    '5:34 missing-key Missing key "mode" in vms.c.iommu',
    '9:17 nic-reused NIC "a:eth0" is already used by link "a-b"',
    "10:16 bad-endpoints A link has exactly 2 endpoints, got 1",
    '11:16 wrong-type links[3].endpoints must be a list, got "a:eth1 sw1"',
    "12:25 wrong-type links[4].endpoints[1] must be a string, got 5",
    "13:5 wrong-type links[5] must be a map, got 7",
    '14:17 unknown-endpoint Unknown VM "d" in endpoint "d:eth0"',
    '15:22 self-link Link "sw1-sw1" connects "sw1" to itself',
    '16:5 duplicate-link-name Link name "a-sw1" is already used by links[1]',
    '17:14 reorder-without-delay Cannot reorder on link "a-sw1" without a delay',
    '18:5 unknown-key Unknown key "dealy" in links[8]',
  ]);
});

Deno.test("a link with one endpoint is told to give both ends, one with three to use a switch", () => {
  // One endpoint was told "use a switch to join more than two NICs".
  const hint = (ends: string) => {
    const r = parseTopology(`${AB}links:\n  - endpoints: ${ends}\n`, "t.yaml");
    assert.ok(!r.ok);
    assert.equal(r.error[0].code, "bad-endpoints");
    return r.error[0].hint;
  };
  assert.equal(hint("[a:eth0]"), 'give both ends: `endpoints: ["a:eth0", "b:eth0"]`');
  assert.equal(hint("[]"), 'give both ends: `endpoints: ["a:eth0", "b:eth0"]`');
  assert.equal(hint("[a:eth0, b:eth0, a:eth0]"), "use a switch to join more than two NICs");
});

Deno.test("values set aside for their shape cause no problems of their own", () => {
  const problems = (yaml: string) => {
    const r = parseTopology(yaml, "t.yaml");
    assert.ok(!r.ok, yaml);
    return r.error.map((i) => `${i.line}:${i.column} ${i.code}`);
  };
  // A bad delay is not a missing one: no reorder-without-delay.
  assert.deepEqual(
    problems(AB + "links:\n  - endpoints: [a, b]\n    delay: 5\n    reorder: 5%\n"),
    ["7:12 bad-unit"],
  );
  // A vsock device with a bad CID is not a missing one: no no-vsock.
  assert.deepEqual(
    problems(
      "name: x\nvms:\n  a: { vsock: { cid: 3 } }\n  b: { vsock: { cid: 1.5 } }\n" +
        "links:\n  - { kind: vsock, endpoints: [a, b] }\n",
    ),
    ["4:22 wrong-type"],
  );
  // A vIOMMU without its mode is not a missing vIOMMU: no no-iommu.
  assert.deepEqual(
    problems("name: x\nvms:\n  a: { iommu: {}, nics: { e0: { iommu: true } } }\n"),
    ["3:15 missing-key"],
  );
  // A bad ports_max is not the default of 64: no switch-full for the 65th link.
  const vms = Array.from({ length: 65 }, (_, i) => `  v${i}: { nics: { e0: {} } }`);
  const links = vms.map((_, i) => `  - endpoints: [v${i}, s]`);
  assert.deepEqual(
    problems(
      `name: x\nvms:\n${vms.join("\n")}\nswitches: { s: { ports_max: 5000 } }\n` +
        `links:\n${links.join("\n")}\n`,
    ),
    ["68:29 out-of-range"],
  );
  // A link of an unknown kind is not a net link: no no-nic for VMs with only vsock, no
  // nic-reused, no switch-full, no duplicate link name.
  assert.deepEqual(
    problems(
      "name: x\nvms:\n  c: { vsock: { cid: 3 } }\n  d: { vsock: { cid: 4 } }\n" +
        "links:\n  - { kind: vsok, endpoints: [c, d] }\n",
    ),
    ["6:13 unknown-value"],
  );
  assert.deepEqual(
    problems(
      AB + "switches: { s: { ports_max: 1 } }\nlinks:\n  - endpoints: [a, s]\n" +
        "  - { kind: 5, endpoints: [a, s] }\n  - { kind: nett, endpoints: [b, s] }\n",
    ),
    ["8:13 unknown-value", "9:13 unknown-value"],
  );
  // A bad layout is not split: no bad-queue-size for a packed-only size.
  assert.deepEqual(
    problems("name: x\nvms:\n  a: { layout: pakced, queue_size: 100, nics: { e0: {} } }\n"),
    ["3:16 unknown-value"],
  );
});

Deno.test("a lab named logs is refused by validate, as up refuses it, at its line and column", () => {
  const r = parseTopology("name: logs\nvms: { a: { nics: { e0: {} } } }\n", "t.yaml");
  assert.ok(!r.ok, "a lab named logs was valid, and only `vlab up` refused it");
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code}`), ["1:7 bad-name"]);
  assert.match(r.error[0].message, /^Lab name "logs" is reserved: .*event logs$/);
  assert.equal(r.error[0].hint, 'give the lab another name, such as "logs-lab"');
  assert.ok(parseTopology("name: logs-lab\nvms: { a: { nics: { e0: {} } } }\n", "t.yaml").ok);
});

Deno.test("a bad lab name's suggestion ends on a letter or digit, not on a dash", () => {
  const hint = (name: string) => {
    const r = topologyFromObject({ name, vms: {} });
    assert.ok(!r.ok);
    return r.error[0].hint;
  };
  assert.equal(hint("Bad Name!"), 'try "bad-name"'); // it was "bad-name-"
  assert.equal(hint("x!!"), 'try "x"');
  assert.equal(hint("!!"), "such as `name: my-lab`");
});

Deno.test("a bad lab name or vms map still lets the rest of the file be checked", () => {
  const r = parseTopology(
    "name: 5\nvms: { a: { nics: { e0: {} } } }\nlinks:\n  - endpoints: [a, b]\n",
    "t.yaml",
  );
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code}`), [
    "1:7 wrong-type",
    "4:20 unknown-endpoint",
  ]);
  const v = parseTopology(
    "name: x\nvms: [a, b]\nswitches: { s: {}, t: {} }\nlinks:\n  - endpoints: [a, s]\n" +
      "  - endpoints: [s, t]\n  - endpoints: [t, s]\n",
    "t.yaml",
  );
  assert.ok(!v.ok);
  // Endpoints naming VMs are not checked (the VMs could not be read); the switch loop is found.
  assert.deepEqual(v.error.map((i) => `${i.line}:${i.column} ${i.code}`), [
    "2:6 wrong-type",
    "7:5 switch-loop",
  ]);
});

Deno.test("a value set aside hides no problem of its neighbours", () => {
  const r = parseTopology(
    "name: x\nvms:\n  a:\n    nics:\n      e0: { queue_size: 0 }\n      e1: { queue_size: 12 }\n" +
      "      e2: { ip: 10.0.0.300/24 }\n  b:\n    memory: 1MiB\n    poll_us: -1\n" +
      "    nics: { e0: { ip: 10.0.0.300/24, queue_size: 4096 } }\n",
    "t.yaml",
  );
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code}`), [
    "5:25 out-of-range",
    "6:25 bad-queue-size",
    "7:17 bad-ip",
    "9:13 memory-too-small",
    "10:14 out-of-range",
    "11:23 bad-ip",
  ]);
});

Deno.test("a value that is not plain data is refused at its path, with a hint, and breaks nothing else", () => {
  const issues = (value: unknown) => {
    const r = topologyFromObject(value);
    assert.ok(!r.ok);
    return r.error.map((i) => `${i.code} ${i.path}: ${i.message}`);
  };
  class Vm {
    memory = "16MiB";
  }
  const throwing = {
    get ip(): string {
      throw new Error("no ip");
    },
  };
  assert.deepEqual(
    issues({
      name: "x",
      vms: {
        a: () => 1,
        b: { nics: { eth0: { ip: () => 1 } } },
        c: new Map([["memory", "zz"]]),
        d: { memory: 10n, features: new Set(["csum"]) },
        e: new Vm(),
        f: { memory: new Date(0), [Symbol("x")]: 1 },
        g: { nics: { eth0: throwing } },
        h: { layout: Symbol("split") },
      },
    }),
    [
      "wrong-type vms.a: vms.a must be a map, got a function",
      "wrong-type vms.b.nics.eth0.ip: vms.b.nics.eth0.ip must be a string, got a function",
      "wrong-type vms.c: vms.c must be a map, got a Map",
      "wrong-type vms.d.memory: vms.d.memory must be a string or a number, got a bigint",
      "wrong-type vms.d.features: vms.d.features must be a list, got a Set",
      'wrong-type vms.e: vms.e must be a map, got an object of class "Vm"',
      'wrong-type vms.f: vms.f has a key that is a symbol, "x": a map\'s keys are strings',
      "wrong-type vms.f.memory: vms.f.memory must be a string or a number, got a Date",
      'wrong-type vms.g.nics.eth0.ip: Cannot read vms.g.nics.eth0.ip: "no ip"',
      "wrong-type vms.h.layout: vms.h.layout must be a string, got a symbol",
    ],
  );
  // Each has a hint that says what to write.
  const r = topologyFromObject({ name: "x", vms: { a: new Map() }, links: new Set() });
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => i.hint), [
    "write a plain object ({ key: value }); Object.fromEntries(map) makes one",
    "write an array; [...set] makes one",
  ]);
  // Not where the other shape belongs: a Set for a map (a YAML `!!set`), a Map for a list.
  const swapped = topologyFromObject({ name: "x", vms: new Set(), links: new Map() });
  assert.ok(!swapped.ok);
  assert.deepEqual(swapped.error.map((i) => `${i.message} | ${i.hint}`), [
    "vms must be a map, got a Set | write a map here: a topology is plain data, as JSON or YAML gives it",
    "links must be a list, got a Map | write a list here: a topology is plain data, as JSON or YAML gives it",
  ]);
  const set = parseTopology("name: x\nvms: !!set { a }\n", "t.yaml");
  assert.ok(!set.ok);
  // From a file, the tag is named (errors_test.ts has the others).
  assert.equal(set.error[0].hint, "remove !!set and write a map, { key: value } here");
  // The whole value, and a value under an unknown key (refused as a key).
  assert.deepEqual(issues(() => 1), ["wrong-type : The topology must be a map, got a function"]);
  assert.deepEqual(issues({ name: "x", vms: {}, extra: () => 1 }), [
    'unknown-key extra: Unknown key "extra" at the top level',
  ]);
  // Set aside, they cause nothing more: no endpoint of a refused VM, no hole left by a link.
  const ab = { a: { nics: { eth0: {} } }, b: { nics: { eth0: {} } } };
  assert.deepEqual(
    issues({
      name: "x",
      vms: { ...ab, c: () => 1 },
      links: [{ endpoints: ["a", "c"] }, { endpoints: new Set(["a", "b"]) }, {
        endpoints: ["b", "d"],
      }],
    }),
    [
      "wrong-type vms.c: vms.c must be a map, got a function",
      "wrong-type links[1].endpoints: links[1].endpoints must be a list, got a Set",
      'unknown-endpoint links[2].endpoints[1]: Unknown VM or switch "d"',
    ],
  );
  // A proxy that refuses to list its keys, and a list far longer than a lab (not walked).
  const trap = new Proxy({}, {
    ownKeys() {
      throw new Error("no keys");
    },
  });
  assert.deepEqual(issues({ name: "x", vms: { a: trap } }), [
    'wrong-type vms.a: Cannot read vms.a: "no keys"',
  ]);
  assert.deepEqual(issues({ name: "x", vms: {}, links: new Array(1e8) }), [
    "too-many links: A lab holds at most 4096 links, got 100000000",
  ]);
  // The caller's value is not changed, and a key "__proto__" stays a key.
  const value = { name: () => "x", vms: JSON.parse('{"__proto__": {}}') };
  assert.deepEqual(issues(value), [
    "wrong-type name: name must be a string, got a function",
    'bad-name vms.__proto__: Bad VM name "__proto__": use 1-16 of a-z, 0-9, "_" and "-", ' +
    "starting with a letter",
  ]);
  assert.equal(typeof value.name, "function");
});

Deno.test("a vsock link named like a net link says which link has the name, as net links do", () => {
  const r = parseTopology(
    "name: x\nvms:\n  a: { vsock: { cid: 3 }, nics: { e0: {}, e1: {} } }\n" +
      "  b: { vsock: { cid: 4 }, nics: { e0: {}, e1: {} } }\nlinks:\n" +
      "  - { endpoints: [a:e0, b:e0], delay: 1 }\n  - { name: v, endpoints: [a:e1, b:e1] }\n" +
      "  - { kind: vsock, name: v, endpoints: [a, b] }\n",
    "t.yaml",
  );
  assert.ok(!r.ok);
  // links[0] is set aside for its delay: the name is links[1]'s, not the first net link's.
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`), [
    '6:39 bad-unit Cannot read delay "1": expected a duration with a unit',
    '8:26 duplicate-link-name Link name "v" is already used by links[1]',
  ]);
});

Deno.test("parseTopology refuses text or a source that is no string with a TypeError naming it", () => {
  // parseTopology(5) failed inside the parser: "text.trimStart is not a function".
  assert.throws(
    () => parseTopology(5 as unknown as string, "t.yaml"),
    /^TypeError: parseTopology: text must be the topology's YAML \(a string\), got number$/,
  );
  assert.throws(
    () => parseTopology("name: x\nvms: {}\n", undefined as unknown as string),
    /^TypeError: parseTopology: source must be the file's path \(a string\), got undefined$/,
  );
  assert.ok(parseTopology("name: x\nvms: {}\n", "t.yaml").ok);
});

Deno.test("a misspelt required key is one problem, the unknown key's did-you-mean, not also 'Missing key'", () => {
  const brief = (yaml: string) => {
    const r = parseTopology(yaml, "t.yaml");
    assert.ok(!r.ok, yaml);
    return r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.hint}`);
  };
  // Each was two problems, the first of which said to add the key that is there, misspelt.
  assert.deepEqual(brief("name: x\nvm: {}\n"), ["2:1 unknown-key did you mean `vms`?"]);
  assert.deepEqual(brief("nme: x\nvms: {}\n"), ["1:1 unknown-key did you mean `name`?"]);
  assert.deepEqual(brief(AB + "links:\n  - endpoint: [a, b]\n"), [
    "6:5 unknown-key did you mean `endpoints`?",
  ]);
  assert.deepEqual(brief("name: x\nvms: { c: { iommu: { mod: static } } }\n"), [
    "2:22 unknown-key did you mean `mode`?",
  ]);
  // A required key missing with no look-alike beside it is still missing.
  assert.deepEqual(brief("name: x\nfoo: {}\n"), [
    "1:1 missing-key add `vms:` with at least one VM, such as `vms: { a: {} }`",
    "2:1 unknown-key expected one of `name`, `seed`, `defaults`, `vms`, `switches`, `vsock_routers`, `links`",
  ]);
});

Deno.test("a top-level key that only holds an anchor says where the anchor goes", () => {
  const r = parseTopology(
    "name: x\nbase: &h { memory: 32MiB }\nvms:\n  a: *h\n  b: { <<: *h, poll_us: 5 }\n",
    "t.yaml",
  );
  assert.ok(!r.ok);
  // The hint was "did you mean `name`?".
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.hint}`), [
    '2:1 unknown-key did you mean `name`? If it only holds the anchor: move "&h" onto the first ' +
    "entry that uses it and remove this key",
  ]);
  // Without a look-alike, or without an anchor: one hint.
  const typo = parseTopology("name: x\nvms: {}\nzzzz: &l []\nswitchs: {}\n", "t.yaml");
  assert.ok(!typo.ok);
  assert.deepEqual(typo.error.map((i) => i.hint), [
    'a topology takes no key of your own: move "&l" onto the first entry that uses it and ' +
    "remove this key",
    "did you mean `switches`?",
  ]);
});

Deno.test("a VM's, NIC's or switch's key written at the indentation of the names says to indent it", () => {
  const hints = (yaml: string) => {
    const r = parseTopology(yaml, "t.yaml");
    assert.ok(!r.ok, yaml);
    return r.error.map((i) => `${i.line}:${i.column} ${i.hint}`);
  };
  // Each hint named the wrong fix: "write a map here; docs/topology.md describes `ip`".
  assert.deepEqual(
    hints("name: x\nvms:\n  a:\n    nics:\n      eth0:\n      ip: 10.0.0.1/24\n"),
    [
      '6:11 "ip" is a NIC\'s key written at the indentation of the NIC names, so it is read as ' +
      'a NIC called "ip": indent it under "eth0"',
    ],
  );
  assert.deepEqual(hints("name: x\nvms:\n  a:\n  nics:\n      eth0: {}\n"), [
    '5:7 "nics" is a VM\'s key written at the indentation of the VM names, so it is read as a ' +
    'VM called "nics": indent it under "a"',
  ]);
  assert.deepEqual(hints("name: x\nvms: {}\nswitches:\n  sw:\n  ports_max: 8\n"), [
    '5:14 "ports_max" is a switch\'s key written at the indentation of the switch names, so it ' +
    'is read as a switch called "ports_max": indent it under "sw"',
  ]);
  // A script's object has no indentation: its hint stays.
  const o = topologyFromObject({ name: "x", vms: { nics: { eth0: {} } } });
  assert.ok(!o.ok);
  assert.match(o.error[0].hint ?? "", /^expected one of/);
});
