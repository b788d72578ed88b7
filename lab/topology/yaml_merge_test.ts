/**
 * YAML merge keys in topology files: `<<: *base` gives a map the keys of another (its own keys
 * win), a problem of a merged value is located at the alias that brought it, and a merge of
 * something that is not a map is a problem at that value.
 */

import assert from "node:assert/strict";
import { parseTopology } from "./mod.ts";

/** `line:col code message` of each issue of a file that must have problems. */
function brief(yaml: string): string[] {
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok, `expected problems in:\n${yaml}`);
  return r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`);
}

Deno.test("a merge key gives a VM the keys of another, and the VM's own keys win", () => {
  const r = parseTopology(
    [
      "name: t",
      "vms:",
      "  a: &host { memory: 32MiB, poll_us: 5, nics: { eth0: { layout: packed } } }",
      "  b: { <<: *host, poll_us: 7 }",
      "  c:",
      "    poll_us: 9",
      "    <<: [*host, { memory: 64MiB }]",
      "links:",
      "  - endpoints: [a, b]",
      "",
    ].join("\n"),
    "t.yaml",
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const vms = new Map(r.value.vms.map((v) => [v.name, v]));
  assert.equal(vms.get("b")?.memoryBytes, 32 * 2 ** 20);
  assert.equal(vms.get("b")?.pollUs, 7);
  assert.equal(vms.get("b")?.nics[0].layout, "packed");
  // In a list, the first map that has a key gives it; a key written in the map wins wherever.
  assert.equal(vms.get("c")?.memoryBytes, 32 * 2 ** 20);
  assert.equal(vms.get("c")?.pollUs, 9);
});

Deno.test("two merge keys in one map are no duplicate key", () => {
  const r = parseTopology(
    "name: t\nvms:\n  a: &a { poll_us: 1 }\n  b: &b { memory: 32MiB }\n  c:\n    <<: *a\n    <<: *b\n",
    "t.yaml",
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.equal(r.value.vms[2].memoryBytes, 32 * 2 ** 20);
  assert.equal(r.value.vms[2].pollUs, 1);
});

Deno.test("a bad value that came through a merge is reported at the alias that brought it", () => {
  assert.deepEqual(
    brief("name: t\nvms:\n  a: &a { memory: 3GiB, lyout: packed }\n  b: { <<: *a }\n"),
    [
      "3:19 out-of-range memory must be between 1MiB and 2GiB, got 3GiB",
      '3:25 unknown-key Unknown key "lyout" in vms.a',
      "4:12 out-of-range memory must be between 1MiB and 2GiB, got 3GiB",
      '4:12 unknown-key Unknown key "lyout" in vms.b',
    ],
  );
  // Merged from a map written in place: at the value itself.
  assert.deepEqual(brief("name: t\nvms:\n  a:\n    <<: { nics: { eth0: { mtu: 1 } } }\n"), [
    "4:32 out-of-range mtu must be between 68 and 9000, got 1",
  ]);
});

Deno.test("a merge of something that is not a map is a problem at that value", () => {
  assert.deepEqual(brief("name: t\nvms:\n  a: { <<: 1 }\n"), [
    "3:12 yaml-syntax Cannot merge a single value: a merge key (`<<`) takes a map",
  ]);
  assert.deepEqual(brief("name: t\nseed: &s 1\nvms:\n  a: { <<: [{ poll_us: 1 }, *s] }\n"), [
    "4:29 yaml-syntax Cannot merge a single value: a merge key (`<<`) takes a map",
  ]);
  assert.deepEqual(brief("name: t\nvms:\n  a:\n    <<:\n    poll_us: 1\n"), [
    "4:5 yaml-syntax Cannot merge nothing: a merge key (`<<`) takes a map",
  ]);
  // A quoted "<<" is an ordinary key.
  assert.deepEqual(brief('name: t\nvms:\n  a: { "<<": {} }\n'), [
    '3:8 unknown-key Unknown key "<<" in vms.a',
  ]);
});

Deno.test("a map key is a name as written: a VM may be called null, and 0x10 is not 16", () => {
  const r = parseTopology(
    'name: t\nvms:\n  null: { nics: { eth0: {} } }\n  b: { nics: { eth0: {} } }\nlinks:\n  - endpoints: ["null", b]\n',
    "t.yaml",
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.deepEqual(r.value.vms.map((v) => v.name), ["null", "b"]);
  assert.deepEqual(brief("name: t\nvms:\n  ~: {}\n  0x10: {}\n  true: {}\n"), [
    '3:3 bad-name Bad VM name "~": use 1-16 of a-z, 0-9, "_" and "-", starting with a letter',
    '4:3 bad-name Bad VM name "0x10": use 1-16 of a-z, 0-9, "_" and "-", starting with a letter',
  ]);
  // An empty key and "" are one key, as the plain value has them: a duplicate, not a lost VM.
  assert.deepEqual(brief('name: t\nvms:\n  "": {}\n  : {}\n').map((s) => s.split(" ")[1]), [
    "duplicate-key",
  ]);
});
