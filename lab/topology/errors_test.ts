/**
 * Clear errors and bounded work for hostile topology files: values out of range, addresses that
 * are not a host's, YAML syntax errors at the line to fix, escape sequences and long values,
 * files that are not files, huge files and labs, and a hint for every problem code.
 */

import assert from "node:assert/strict";
import { formatIssues, loadTopologyFile, parseTopology } from "./mod.ts";
import { topologyFileWarnings } from "./files.ts";
import { z } from "zod";
import { PROBLEM_CODES } from "./issues.ts";
import { schemaProblems } from "./structure.ts";
import { MAX_TOPOLOGY_BYTES, TOPOLOGY_LIMITS } from "./limits.ts";
import type { TopologyIssue } from "./types.ts";
import { NO_IMPAIRMENT } from "../host/impair.ts";

function issuesOf(yaml: string): TopologyIssue[] {
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(!r.ok, `expected problems in:\n${yaml}`);
  return r.error;
}

/** `line:col code message` of each issue. */
function brief(yaml: string): string[] {
  return issuesOf(yaml).map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`);
}

/** A control character other than the newline that separates printed lines. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

const LINK = (impairment: string) =>
  `name: x\nvms:\n  a: { nics: { eth0: {} } }\n  b: { nics: { eth0: {} } }\n` +
  `links:\n  - endpoints: [a, b]\n    ${impairment}\n`;

Deno.test("a rate below the smallest limit and a 400-digit delay are out of range", () => {
  assert.deepEqual(brief(LINK("rate: 0.1bit")), [
    "7:11 out-of-range rate must be between 1kbit and 100gbit (or 0, unlimited), got 0.1bit",
  ]);
  const huge = "9".repeat(400);
  const [delay] = issuesOf(LINK(`delay: ${huge}ms`));
  assert.equal(delay.code, "out-of-range");
  assert.match(delay.message, /^delay must be between 0 and 60s, got "9{64}…"$/);
  assert.equal(delay.hint, "write a delay between 0 and 60s");
  assert.equal(
    brief(LINK("jitter: 61s"))[0],
    "7:13 out-of-range jitter must be between 0 and 60s, got 61s",
  );
  assert.equal(brief(LINK("rate: 200gbit"))[0].split(" ")[1], "out-of-range");
  assert.equal(issuesOf(LINK(`loss: ${"1".repeat(400)}%`))[0].code, "out-of-range");
  const memory = issuesOf(`name: x\nvms: { a: { memory: ${"9".repeat(400)}GiB } }\n`)[0];
  assert.equal(memory.code, "out-of-range");
  assert.ok(memory.message.length < 200, memory.message);
  // The edges are allowed.
  for (const ok of ["rate: 1kbit", "rate: 100gbit", "rate: 0", "delay: 60s"]) {
    assert.ok(parseTopology(LINK(ok), "t.yaml").ok, ok);
  }
});

Deno.test("an infinite or NaN unit value is out of range; another type's hints give the key's own units", () => {
  const issues = issuesOf(
    "name: x\nvms:\n  a: { memory: .inf, nics: { eth0: { tx_timeout: [] } } }\n" +
      "  b: { nics: { eth0: {} } }\nlinks:\n  - { endpoints: [a, b], loss: .nan, rate: {} }\n",
  );
  assert.deepEqual(issues.map((i) => `${i.line}:${i.column} ${i.code} ${i.message} | ${i.hint}`), [
    '3:16 out-of-range memory must be between 1MiB and 2GiB, got Infinity | write a memory between 1MiB and 2GiB, such as "16MiB"',
    '3:50 wrong-type vms.a.nics.eth0.tx_timeout must be a string or a number, got a list | write tx_timeout as "10ms", "1s" or 0',
    "6:32 out-of-range loss must be between 0% and 100%, got NaN | write a loss between 0% and 100%",
    '6:44 wrong-type links[0].rate must be a string or a number, got a map | write rate as "100mbit", "1gbit" or 0',
  ]);
});

Deno.test("a number YAML reads as infinite or NaN is out of range for every numeric key, not of the wrong type", () => {
  // poll_us: 1e400 was 'vms.a.poll_us must be an integer, got Infinity' (a wrong-type problem).
  const issues = issuesOf(
    "name: x\nseed: .nan\nvms:\n  a: { poll_us: 1e400, nics: { eth0: { mtu: -.inf, queue_size: .nan } } }\n" +
      "  b: { nics: { eth0: { tx_timeout: .inf } } }\nswitches: { sw: { ports_max: .inf } }\n" +
      "links:\n  - { endpoints: [a, sw], delay: 1e400, jitter: .inf, rate: .inf, gap: .inf, limit: .nan,\n" +
      "      overhead: -.inf, loss_correlation: .inf, loss_gemodel: .inf, reverse: { duplicate: -.inf } }\n" +
      "  - { endpoints: [b, sw] }\n",
  );
  const seen = issues.map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`);
  assert.deepEqual(seen, [
    "2:7 out-of-range seed must be between 0 and 4294967295, got NaN",
    "4:17 out-of-range poll_us must be between 0 and 10000, got Infinity",
    "4:45 out-of-range mtu must be between 68 and 9000, got -Infinity",
    "4:64 out-of-range queue_size must be between 8 and 32768, got NaN",
    "5:36 out-of-range tx_timeout must be between 0 and 60s, got Infinity",
    "6:30 out-of-range ports_max must be between 1 and 4096, got Infinity",
    "8:34 out-of-range delay must be between 0 and 60s, got Infinity",
    "8:49 out-of-range jitter must be between 0 and 60s, got Infinity",
    "8:61 out-of-range rate must be between 1kbit and 100gbit (or 0, unlimited), got Infinity",
    "8:72 out-of-range gap must be between 1 and 1000000, got Infinity",
    "8:85 out-of-range limit must be between 1 and 1000000, got NaN",
    "9:17 out-of-range overhead must be between -1024 and 1024, got -Infinity",
    "9:42 out-of-range loss_correlation must be between 0% and 100%, got Infinity",
    "9:62 out-of-range loss_gemodel must be between 0% and 100%, got Infinity",
    "9:90 out-of-range duplicate must not be negative, got -Infinity",
  ]);
});

Deno.test("a negative duration, percentage, rate or size is out of range: it must not be negative", () => {
  // jitter: -1ms was 'Cannot read jitter "-1ms": expected a duration' (bad-unit), as if the
  // unit were wrong.
  assert.deepEqual(brief(LINK("jitter: -1ms")), [
    "7:13 out-of-range jitter must not be negative, got -1ms",
  ]);
  const issues = issuesOf(
    "name: x\nvms:\n  a: { nics: { eth0: { tx_timeout: -5s } } }\n  b: { nics: { eth0: {} } }\n" +
      'links:\n  - { endpoints: [a, b], delay: " -2 ms", loss: -1%, rate: -1mbit, loss_state: "1% -30%",\n' +
      "      delay_correlation: -0.5, reverse: { jitter: -0ms, loss: -0%, rate: -0kbit } }\n",
  );
  assert.deepEqual(issues.map((i) => `${i.line}:${i.column} ${i.code} ${i.message} | ${i.hint}`), [
    "3:36 out-of-range tx_timeout must not be negative, got -5s | write a tx_timeout between 0 and 60s",
    '6:33 out-of-range delay must not be negative, got " -2 ms" | write a delay between 0 and 60s',
    "6:49 out-of-range loss must not be negative, got -1% | write a loss between 0% and 100%",
    "6:60 out-of-range rate must not be negative, got -1mbit | write a rate between 1kbit and 100gbit (or 0, unlimited)",
    "6:80 out-of-range loss_state must not be negative, got -30% | write a loss_state between 0% and 100%",
    "7:26 out-of-range delay_correlation must not be negative, got -0.5 | write a delay_correlation between 0% and 100%",
  ]);
  // Minus zero is zero, as tc reads it.
  assert.ok(parseTopology(LINK("delay: -0ms"), "t.yaml").ok);
});

Deno.test("a file with CR line endings (old Mac) is read line by line, as YAML says", () => {
  assert.deepEqual(brief("name: x\rvms:\r  a: { poll_us: -1 }\r"), [
    "3:17 out-of-range poll_us must be between 0 and 10000, got -1",
  ]);
  const r = parseTopology("name: x\r\rvms:\r  a: {}\r", "t.yaml");
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
});

Deno.test("a choice left empty (layout:, mode:, a feature ~) says none was given, with the choices", () => {
  const issues = issuesOf(
    "name: x\nvms:\n  a:\n    iommu: { mode: }\n    nics: { eth0: { layout: , features: [~] } }\n",
  );
  assert.deepEqual(issues.map((i) => `${i.code} ${i.message} | ${i.hint}`), [
    "unknown-value No mode given | expected one of `strict`, `lazy`, `static`, `passthrough`",
    "unknown-value No layout given | expected one of `split`, `packed`",
    "unknown-value No feature given | expected one of `event_idx`, `indirect`, `mrg_rxbuf`, " +
    "`in_order`, `csum`",
  ]);
});

Deno.test("multicast, loopback, broadcast and this-network addresses are not host IPs", () => {
  const nic = (ip: string) => `name: x\nvms:\n  a: { nics: { eth0: { ip: ${ip} } } }\n`;
  const cases: [string, RegExp][] = [
    ["224.0.0.1/24", /multicast/],
    ["239.255.255.250/8", /multicast/],
    ["127.0.0.1/8", /loopback/],
    ["0.0.0.5/24", /"this network"/],
    ["255.255.255.255/24", /limited broadcast/],
    ["240.0.0.1/8", /reserved/],
    ["10.0.0.255/24", /broadcast address of 10\.0\.0\.0\/24/],
    ["10.0.0.0/24", /network address of 10\.0\.0\.0\/24/],
  ];
  for (const [ip, why] of cases) {
    const [issue, ...rest] = issuesOf(nic(ip));
    assert.deepEqual(rest, [], ip);
    assert.equal(issue.code, "bad-address", ip);
    assert.match(issue.message, why, ip);
    assert.equal(`${issue.line}:${issue.column}`, "3:28", ip);
    assert.ok(issue.hint, ip);
  }
  for (const ip of ["10.0.0.1/24", "192.168.1.254/24", "169.254.1.1/16", "10.0.0.0/31"]) {
    assert.ok(parseTopology(nic(ip), "t.yaml").ok, ip);
  }
});

Deno.test("YAML syntax errors point at the unclosed quote, brace or bracket and the alias", () => {
  const cases: [string, string, string][] = [
    ['name: x\nvms:\n  a:\n    memory: "16MiB\n  b: {}\n', "4:13", "Unclosed string"],
    ["name: x\nvms:\n  a:\n    memory: '16MiB''\n  b: {}\n", "4:13", "Unclosed string"],
    ["name: x\nvms: { a: {}\n  \nlinks: []\n", "2:6", "Unclosed flow map"],
    [
      "name: x\nvms: {}\nlinks:\n  - endpoints: [a, b\n  - endpoints: [c, d]\n",
      "4:16",
      "Unclosed flow list",
    ],
    ["name: x\nvms:\n  a: *nope\n  b: {}\n", "3:6", 'Unknown alias "*nope"'],
    // An alias inside the value its anchor marks: "aliases expand to too many nodes" at 1:1.
    [
      "name: x\nvms:\n  a: &a\n    nics: { eth0: {} }\n    <<: *a\n",
      "5:9",
      'Alias "*a" is inside the value that "&a" marks: that value would contain itself',
    ],
    ["name: x\nvms: &v\n  a: { nics: *v }\n", "3:14", 'Alias "*v" is inside the value that "&v"'],
    ["name: x\nvms:\n  a: {}\n  a: {}\n", "4:3", 'Duplicate key "a"'],
    // An empty key is placed at its `:`, not at the start of its line.
    ["name: x\nvms:\n  a: {}\n  : {}\n  : {}\n", "5:3", 'Duplicate key ""'],
    // An unknown tag is named, where the library read the value as a string.
    ["name: x\nvms:\n  a:\n    poll_us: !foo 5\n", "4:14", 'Unknown YAML tag "!foo"'],
    ["name: x\nvms:\n  a: !vm {}\n", "3:6", 'Unknown YAML tag "!vm"'],
  ];
  for (const [yaml, at, message] of cases) {
    const [issue] = issuesOf(yaml);
    assert.equal(`${issue.line}:${issue.column}`, at, `${message} in ${JSON.stringify(yaml)}`);
    assert.ok(issue.message.startsWith(message), issue.message);
    assert.ok(issue.hint, issue.message);
  }
  // Two unclosed braces: each is reported at its own opener, in order.
  const two = brief("name: x\nvms:\n  a: { nics: { eth0: {}\n  b: {}\n");
  assert.deepEqual(two.map((l) => l.split(" ")[0]), ["3:6", "3:14"]); // A quote left open swallows the closers after it: it alone is reported, not the braces it
  // hid (each was "Unclosed flow map: this `{` has no closing `}`" though it had one).
  assert.deepEqual(brief('name: x\nvms:\n  a: { nics: { eth0: { ip: "10.0.0.1/24 } } }\n'), [
    '3:28 yaml-syntax Unclosed string: this `"` has no closing `"`',
  ]);
  assert.deepEqual(brief("name: x\nlinks: [ { endpoints: ['a:e0, b] } ]\nvms: {}\n"), [
    "2:24 yaml-syntax Unclosed string: this `'` has no closing `'`",
  ]);
  // A brace the string did not hide is still reported: one `}` is missing besides the quote.
  assert.deepEqual(
    brief('name: x\nvms:\n  a: { nics: { eth0: { ip: "10.0.0.1/24 } }\n').map((l) =>
      l.split(" ").slice(0, 3).join(" ")
    ),
    ["3:6 yaml-syntax Unclosed", "3:28 yaml-syntax Unclosed"],
  );
});

Deno.test("escape sequences from a file never reach the printed problems, and long values are cut", () => {
  const yaml = 'name: "x\\e]0;pwned\\a"\nvms:\n  "v\\e[31m": {}\n' +
    `  a: { nics: { eth0: { ip: "${"\\e[2J".repeat(50)}", mac: "\\e]0;x" } } }\n` +
    'links:\n  - endpoints: ["\\e[5m:eth0", a]\n';
  const issues = issuesOf(yaml);
  assert.ok(issues.length >= 4, JSON.stringify(issues));
  const printed = formatIssues(issues, "evil\x1b[0m.yaml");
  assert.doesNotMatch(printed, CONTROL, "no control character is printed");
  assert.match(printed, /Bad lab name "x\\x1b\]0;pwned\\x07"/);
  assert.match(printed, /evil\\x1b\[0m\.yaml:1:7/);
  for (const line of printed.split("\n")) assert.ok(line.length < 300, line);
  // Binary garbage: one short line, no raw bytes.
  const garbage = issuesOf("\x01\x1b]0;pwn\x07" + "A".repeat(2700) + "\n");
  const shown = formatIssues(garbage, "g.yaml");
  assert.ok(shown.length < 400, shown);
  assert.doesNotMatch(shown, CONTROL);
});

Deno.test("a UTF-16 file with its byte-order mark is read, as YAML allows; a broken one says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = "name: t\nvms: { a: { poll_us: -1 } }\n";
    const le = new Uint8Array([0xff, 0xfe, ...[...text].flatMap((c) => [c.charCodeAt(0), 0])]);
    const be = new Uint8Array([0xfe, 0xff, ...[...text].flatMap((c) => [0, c.charCodeAt(0)])]);
    for (const [name, bytes] of [["le.yaml", le], ["be.yaml", be]] as const) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      const r = await loadTopologyFile(`${dir}/${name}`);
      assert.ok(!r.ok);
      assert.deepEqual(r.error.map((i) => `${i.line}:${i.column} ${i.code}`), [
        "2:22 out-of-range",
      ]);
    }
    // Read again for its warnings (vlab validate, vlab up), it is the same text: the same lines.
    const mixed = "name: t\nvms:\n  a: { nics: { e: { mtu: 9000 } } }\n  b: { nics: { e: {} } }\n" +
      "links:\n  - endpoints: [a, b]\n";
    const utf16 = new Uint8Array([0xff, 0xfe, ...[...mixed].flatMap((c) => [c.charCodeAt(0), 0])]);
    await Deno.writeFile(`${dir}/mtu.yaml`, utf16);
    const ok = await loadTopologyFile(`${dir}/mtu.yaml`);
    assert.ok(ok.ok);
    const warnings = await topologyFileWarnings(`${dir}/mtu.yaml`, ok.value);
    assert.deepEqual(warnings.map((w) => `${w.line}:${w.column} ${w.code}`), ["4:19 mtu-mismatch"]);
    // A lone surrogate after the mark is no UTF-16.
    await Deno.writeFile(`${dir}/bad.yaml`, new Uint8Array([0xff, 0xfe, 0x00, 0xd8]));
    const bad = await loadTopologyFile(`${dir}/bad.yaml`);
    assert.ok(!bad.ok);
    assert.equal(bad.error[0].code, "unreadable");
    assert.match(bad.error[0].message, /it is not UTF-16 text/);
    assert.equal(bad.error[0].hint, "save the file as UTF-8");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validate refuses a FIFO, a device, a folder and a file over the size limit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-topology-" });
  try {
    const fifo = `${dir}/fifo.yaml`;
    const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(mk.code, 0, "mkfifo (coreutils) is needed for this test");
    const big = `${dir}/big.yaml`;
    Deno.writeTextFileSync(big, "name: x\nvms: {}\n# " + "x".repeat(MAX_TOPOLOGY_BYTES) + "\n");
    const binary = `${dir}/bin.yaml`;
    Deno.writeFileSync(binary, new Uint8Array([0x6e, 0, 0xff, 0x1b, 0x5d]));
    const cases: [string, string, RegExp][] = [
      [fifo, "unreadable", /it is a FIFO$/],
      ["/dev/zero", "unreadable", /it is a character device$/],
      [dir, "unreadable", /it is a folder$/],
      [big, "too-large", /more than 1 MiB$/],
      [binary, "unreadable", /binary/],
    ];
    for (const [path, code, why] of cases) {
      const r = await loadTopologyFile(path);
      assert.ok(!r.ok, path);
      assert.equal(r.error.length, 1, path);
      assert.equal(r.error[0].code, code, path);
      assert.match(r.error[0].message, why, path);
      assert.ok(r.error[0].hint, path);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file of 20,000 VMs is refused as too many, in linear time", () => {
  const lines = ["name: big", "vms:"];
  for (let i = 0; i < 20_000; i++) lines.push(`  v${i}: {}`);
  const t0 = performance.now();
  const issues = issuesOf(lines.join("\n") + "\n");
  const ms = performance.now() - t0;
  assert.deepEqual(issues.map((i) => i.message), [
    `A lab holds at most ${TOPOLOGY_LIMITS.vms} VMs, got 20000`,
  ]);
  // The yaml library's own duplicate-key check took 22 s here (it compares every pair of keys).
  assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`);
});

Deno.test("links and NICs per VM are bounded too", () => {
  const nics = Array.from({ length: TOPOLOGY_LIMITS.nicsPerVm + 1 }, (_, i) => `e${i}: {}`);
  const [nic] = issuesOf(`name: x\nvms:\n  a: { nics: { ${nics.join(", ")} } }\n`);
  assert.equal(nic.code, "too-many");
  assert.equal(nic.path, "vms.a.nics");
  const links = Array.from({ length: TOPOLOGY_LIMITS.links + 1 }, () => "  - endpoints: [a, b]");
  const [link] = issuesOf(`name: x\nvms: { a: {}, b: {} }\nlinks:\n${links.join("\n")}\n`);
  assert.equal(link.code, "too-many");
  assert.equal(link.path, "links");
});

/** One file per problem code; each must produce its code, with a hint. */
const EVERY_CODE: Record<string, string> = {
  "yaml-syntax": "name: x\nvms: { a: {}\n",
  "duplicate-key": "name: x\nname: y\nvms: {}\n",
  "unknown-key": "name: x\nvms: {}\nlnks: []\n",
  "missing-key": "vms: {}\n",
  "wrong-type": "name: x\nvms: { a: { poll_us: fast } }\n",
  "leading-zero": "name: x\nvms: { a: { vsock: { cid: 010 } } }\n",
  "seed-notation": "name: x\nseed: 0x10\nvms: {}\n",
  "unknown-value": "name: x\nvms: { a: { layout: spilt } }\n",
  "out-of-range": "name: x\nvms: { a: { memory: 1 } }\n",
  "bad-unit": "name: x\nvms: { a: { memory: 10 parsecs } }\n",
  "bad-name": "name: X!\nvms: {}\n",
  "duplicate-name": "name: x\nvms: { a: {} }\nswitches: { a: {} }\n",
  "duplicate-link-name":
    "name: x\nvms: { a: { nics: { e0: {}, e1: {} } }, b: { nics: { e0: {}, e1: {} } } }\n" +
    "links: [{ endpoints: [a:e0, b:e0] }, { endpoints: [a:e1, b:e1] }]\n",
  "bad-ip": "name: x\nvms: { a: { nics: { e0: { ip: 10.0.0.1 } } } }\n",
  "bad-address": "name: x\nvms: { a: { nics: { e0: { ip: 127.0.0.1/8 } } } }\n",
  "subnet-mismatch": "name: x\nvms: { a: { nics: { e0: { ip: 10.0.0.1/24 } } }, " +
    "b: { nics: { e0: { ip: 10.0.1.1/24 } } } }\nlinks: [{ endpoints: [a, b] }]\n",
  "duplicate-ip": "name: x\nvms: { a: { nics: { e0: { ip: 10.0.0.1/24 } } }, " +
    "b: { nics: { e0: { ip: 10.0.0.1/24 } } } }\nlinks: [{ endpoints: [a, b] }]\n",
  "bad-mac": "name: x\nvms: { a: { nics: { e0: { mac: zz } } } }\n",
  "mac-not-unicast": "name: x\nvms: { a: { nics: { e0: { mac: '01:00:00:00:00:01' } } } }\n",
  "mac-zero": "name: x\nvms: { a: { nics: { e0: { mac: '00:00:00:00:00:00' } } } }\n",
  "duplicate-mac": "name: x\nvms: { a: { nics: { e0: { mac: '02:00:00:00:00:09' } } }, " +
    "b: { nics: { e0: { mac: '02:00:00:00:00:09' } } } }\n",
  "bad-queue-size": "name: x\nvms: { a: { nics: { e0: { queue_size: 300 } } } }\n",
  "bad-memory-size": "name: x\nvms: { a: { memory: 16777217 } }\n",
  "memory-too-small": "name: x\nvms: { a: { memory: 1MiB, nics: { e0: { queue_size: 4096 } } } }\n",
  "bad-endpoints": "name: x\nvms: { a: { nics: { e0: {} } } }\nlinks: [{ endpoints: [a] }]\n",
  "bad-endpoint":
    "name: x\nvms: { a: { nics: { e0: {} } } }\nlinks: [{ endpoints: ['a:b:c', a] }]\n",
  "unknown-endpoint":
    "name: x\nvms: { a: { nics: { e0: {} } } }\nlinks: [{ endpoints: [a, zz] }]\n",
  "ambiguous-nic": "name: x\nvms: { a: { nics: { e0: {}, e1: {} } }, b: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, b] }]\n",
  "no-nic": "name: x\nvms: { a: {}, b: { nics: { e0: {} } } }\nlinks: [{ endpoints: [a, b] }]\n",
  "nic-reused":
    "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } }, c: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, b] }, { endpoints: [a, c] }]\n",
  "self-link": "name: x\nswitches: { s: {} }\nvms: {}\nlinks: [{ endpoints: [s, s] }]\n",
  "switch-full": "name: x\nswitches: { s: { ports_max: 1 } }\n" +
    "vms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, s] }, { endpoints: [b, s] }]\n",
  "switch-loop": "name: x\nswitches: { s: {}, t: {} }\nvms: {}\n" +
    "links: [{ endpoints: [s, t], name: l1 }, { endpoints: [s, t], name: l2 }]\n",
  "reorder-without-delay": "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, b], reorder: 5% }]\n",
  "distribution-without-jitter":
    "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, b], delay: 5ms, distribution: pareto }]\n",
  "distribution-without-delay":
    "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, b], jitter: 5ms, distribution: pareto }]\n",
  "gap-without-reorder": "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, b], delay: 5ms, gap: 5 }]\n",
  "overhead-without-rate": "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
    "links: [{ endpoints: [a, b], overhead: 24 }]\n",
  "duplicate-cid": "name: x\nvms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 3 } } }\n",
  "no-vsock": "name: x\nvms: { a: { vsock: { cid: 3 } }, b: {} }\n" +
    "links: [{ kind: vsock, endpoints: [a, b] }]\n",
  "vsock-link": "name: x\nvms: { a: { vsock: { cid: 3 } } }\n" +
    "links: [{ kind: vsock, endpoints: [a, a] }]\n",
  "vsock-impairment": "name: x\nvms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } }\n" +
    "links: [{ kind: vsock, endpoints: [a, b], loss: 1% }]\n",
  "no-iommu": "name: x\nvms: { a: { nics: { e0: { iommu: true } } } }\n",
  "vhost-pci-link": "name: x\nvms: { a: { nics: { e0: {} } } }\nswitches: { s: {} }\n" +
    "links: [{ kind: vhost-pci, endpoints: [a, s] }]\n",
  "too-deep": "name: x\nvms: " + "[".repeat(50_000) + "\n",
  "wrong-kind": "topology: pair\ntimeline: []\n",
  "too-many": `name: x\nvms: {${
    Array.from({ length: TOPOLOGY_LIMITS.vms + 1 }, (_, i) => ` v${i}: {}`).join(",")
  } }\n`,
};

Deno.test("every problem code is documented, produced by a file and printed with a hint", async () => {
  const text = Deno.readTextFileSync(new URL("../../docs/topology.md", import.meta.url));
  const docs = text.slice(text.indexOf("## Checks and error codes"), text.indexOf("## API"));
  const documented = new Set([...docs.matchAll(/^\| `([a-z-]+)`\s+\|/gm)].map((m) => m[1]));
  const known = new Set(PROBLEM_CODES.keys());
  for (const code of known) {
    if (code !== "invalid") assert.ok(documented.has(code), `${code} is in docs/topology.md`);
  }
  for (const code of documented) assert.ok(known.has(code), `${code} is in PROBLEM_CODES`);
  const seen = new Set<string>();
  for (const [code, yaml] of Object.entries(EVERY_CODE)) {
    const issues = issuesOf(yaml);
    for (const i of issues) {
      seen.add(i.code);
      assert.ok(typeof i.hint === "string" && i.hint.length > 0, `${i.code}: ${i.message}`);
      assert.match(formatIssues([i], "t.yaml"), /\n {2}hint: \S/);
    }
    assert.ok(issues.some((i) => i.code === code), `${code}: got ${issues.map((i) => i.code)}`);
  }
  // The file-level codes come from reading a file.
  for (const path of ["/nonexistent/x.yaml", "/dev/null/x"]) {
    const r = await loadTopologyFile(path);
    assert.ok(!r.ok && r.error[0].code === "unreadable" && r.error[0].hint, path);
    seen.add("unreadable");
  }
  seen.add("too-large"); // checked by the size-limit test above
  const missing = [...known].filter((c) => c !== "invalid" && !seen.has(c));
  assert.deepEqual(missing, [], "a file for each code");
});

Deno.test("truncated and corrupted shipped topologies give located, hinted, escaped problems", () => {
  const inserts = ['"', "'", "{", "[", "}", "]", "*x", "&", ":", "\t", "\x1b[2J", "\x00", "- "];
  let checked = 0;
  for (const name of ["pair", "star", "two-switches", "split-vs-packed"]) {
    const text = Deno.readTextFileSync(new URL(`../../topologies/${name}.yaml`, import.meta.url));
    // Every 7th cut, and one insertion of each kind at a spread of positions: bounded work.
    const variants: string[] = [];
    for (let at = 0; at < text.length; at += 7) variants.push(text.slice(0, at));
    for (const [k, ins] of inserts.entries()) {
      for (let at = k * 5; at < text.length; at += 97) {
        variants.push(text.slice(0, at) + ins + text.slice(at));
      }
    }
    for (const yaml of variants) {
      const r = parseTopology(yaml, `${name}.yaml`);
      checked++;
      if (r.ok) continue;
      for (const issue of r.error) {
        assert.ok(issue.hint, `${issue.code} without hint: ${issue.message}\n${yaml}`);
        if (issue.line !== null) {
          assert.ok(issue.line >= 1 && issue.line <= yaml.split("\n").length + 1, issue.message);
        }
      }
      assert.doesNotMatch(formatIssues(r.error, "t.yaml"), CONTROL);
    }
  }
  assert.ok(checked > 200, `checked ${checked} variants`);
});

Deno.test("a vsock CID used twice is an error at the second cid's file:line:col", () => {
  const issues = issuesOf(
    "name: x\nvms:\n  a:\n    vsock: { cid: 3 }\n  b:\n    vsock: { cid: 3 }\n",
  );
  assert.equal(issues.length, 1);
  const [i] = issues;
  assert.equal(i.code, "duplicate-cid");
  assert.deepEqual([i.path, i.line, i.column], ["vms.b.vsock.cid", 6, 19]);
  assert.equal(i.message, 'VM "b" has vsock CID 3, already the CID of VM "a"');
});

Deno.test("a NIC with iommu: true on a VM without a vIOMMU is an error at its iommu key's file:line:col", () => {
  const issues = issuesOf(
    "name: x\nvms:\n  a:\n    nics:\n      e0:\n        iommu: true\n",
  );
  assert.equal(issues.length, 1);
  const [i] = issues;
  assert.equal(i.code, "no-iommu");
  assert.deepEqual([i.path, i.line, i.column], ["vms.a.nics.e0.iommu", 6, 16]);
  assert.equal(i.message, 'NIC "a:e0" has iommu: true but VM "a" has no vIOMMU');
  assert.match(i.hint ?? "", /iommu: \{ mode: static \}/);
});

Deno.test("a vIOMMU mode outside strict, lazy, static and passthrough is refused at its file:line:col", () => {
  const issues = issuesOf("name: x\nvms:\n  a:\n    iommu: { mode: eager }\n");
  assert.equal(issues.length, 1);
  assert.deepEqual([issues[0].path, issues[0].line], ["vms.a.iommu.mode", 4]);
  assert.match(issues[0].hint ?? "", /strict/);
});

Deno.test("a VM's iommu mode and a NIC's iommu key reach the normalised topology", () => {
  const r = parseTopology(
    "name: x\nvms:\n  a:\n    iommu: { mode: static }\n    nics: { e0: { iommu: true }, e1: {} }\n",
    "t.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : formatIssues(r.error, "t.yaml"));
  const vm = r.value.vms[0];
  assert.deepEqual(vm.iommu, { mode: "static" });
  assert.deepEqual(vm.nics.map((n) => n.iommu), [true, false]);
});

Deno.test("a vsock CID below 3 is out of range at its file:line:col", () => {
  const issues = issuesOf("name: x\nvms:\n  a:\n    vsock: { cid: 2 }\n");
  assert.equal(issues.length, 1);
  assert.equal(issues[0].code, "out-of-range");
  assert.deepEqual([issues[0].line, issues[0].column], [4, 19]);
});

Deno.test("a memory that is not a multiple of 4KiB (a whole page) is refused, with the nearest sizes", () => {
  // GuestMemory (devices/memory/memory.ts) takes whole pages only: `up` used to fail in the
  // device worker with "not a guest memory buffer: 16777217 bytes".
  const vm = (memory: string) => `name: x\nvms:\n  a: { memory: ${memory} }\n`;
  const [odd, ...rest] = issuesOf(vm("16777217"));
  assert.deepEqual(rest, []);
  assert.deepEqual(
    [`${odd.line}:${odd.column}`, odd.code, odd.message, odd.hint],
    [
      "3:16",
      "bad-memory-size",
      "memory must be a multiple of 4KiB, got 16777217",
      "write 16MiB or 16388KiB (16777216 or 16781312 bytes)",
    ],
  );
  assert.equal(
    issuesOf(vm('"1048577B"'))[0].hint,
    "write 1MiB or 1028KiB (1048576 or 1052672 bytes)",
  );
  assert.equal(
    issuesOf(vm("2147483647"))[0].hint,
    "write 2097148KiB or 2GiB (2147479552 or 2147483648 bytes)",
  );
  for (const ok of ["16MiB", "1MiB", "2GiB", "16781312", "1.5MiB", '"4100KiB"']) {
    assert.ok(parseTopology(vm(ok), "t.yaml").ok, ok);
  }
});

Deno.test("a memory too large to count is out of the memory range, not of every size", () => {
  for (const memory of ["1e300", "9007199254740993", `${"9".repeat(30)}`]) {
    const [i, ...rest] = issuesOf(`name: x\nvms:\n  a: { memory: ${memory} }\n`);
    assert.deepEqual(rest, [], memory);
    assert.equal(i.code, "out-of-range", memory);
    assert.match(i.message, /^memory must be between 1MiB and 2GiB, got /, memory);
    assert.equal(i.hint, 'write a memory between 1MiB and 2GiB, such as "16MiB"', memory);
  }
});

Deno.test("a vIOMMU without its mode is a missing key, with the modes in the hint", () => {
  const issues = issuesOf("name: x\nvms:\n  a:\n    iommu: {}\n");
  assert.deepEqual(issues.map((i) => [`${i.line}:${i.column}`, i.code, i.message, i.hint]), [[
    "4:12",
    "missing-key",
    'Missing key "mode" in vms.a.iommu',
    "add `mode`, one of `strict`, `lazy`, `static`, `passthrough`",
  ]]);
});

Deno.test("a file that is not a map says what a topology is, not `value`", () => {
  for (
    const text of ["", "root:x:0:0:root:/root:/bin/bash\nbin:x:2:2::/bin:/sbin/nologin\n", "- a\n"]
  ) {
    const issues = issuesOf(text);
    assert.equal(issues.length, 1, text);
    assert.equal(issues[0].code, "wrong-type", text);
    assert.equal(
      issues[0].hint,
      "a topology is a map that starts with `name: my-lab` and `vms:`; docs/topology.md describes it",
      text,
    );
  }
});

Deno.test("a part checked with another schema that is not a map gets a hint without `value`", () => {
  const schema = z.strictObject({ seed: z.number() });
  const [p] = schemaProblems(schema, 5, { what: "timeline[0]", docs: "docs/drills.md" });
  assert.deepEqual([p.message, p.hint], [
    "timeline[0] must be a map, got 5",
    "write a map here; docs/drills.md describes it",
  ]);
});

Deno.test("a queue size outside 8..32768 is refused with the lab's rule, not the schema's", () => {
  const nic = (size: string) => `name: x\nvms:\n  a: { nics: { e0: { queue_size: ${size} } } }\n`;
  for (const size of ["0", "65536", "-8"]) {
    const [i, ...rest] = issuesOf(nic(size));
    assert.deepEqual(rest, [], size);
    assert.deepEqual([i.code, i.message, i.hint], [
      "out-of-range",
      `queue_size must be between 8 and 32768, got ${size}`,
      "use a power of 2 from 8 to 32768, or with `layout: packed` any size from 8 to 32768",
    ]);
  }
});

Deno.test("a file of several YAML documents says so, at the second one", () => {
  const issues = issuesOf("name: a\nvms: {}\n---\nname: b\nvms: {}\n");
  assert.deepEqual(issues.map((i) => [`${i.line}:${i.column}`, i.code, i.message, i.hint]), [[
    "3:1",
    "yaml-syntax",
    "The file holds several YAML documents: a topology is one document",
    "remove this `---` and what follows it, or move each document to a file of its own",
  ]]);
  // One document between markers is one document.
  assert.ok(parseTopology("---\nname: a\nvms: {}\n...\n", "t.yaml").ok);
});

Deno.test("an empty key and a badly indented key are located at the key itself", () => {
  assert.deepEqual(brief("name: i8\nvms: {}\n: x\n"), [
    '3:1 unknown-key Unknown key "" at the top level',
  ]);
  const cases: [string, string][] = [
    ["name: t\nvms:\n  a:\n    nics:\n      eth0: {}\n   b:\n    nics:\n      eth0: {}\n", "6:4"],
    ["name: t\nvms:\n  a:\n    nics: {}\n     memory: 16MiB\n", "5:6"],
    ["name: t\nvms:\n  a: {}\n b: {}\n", "4:2"],
  ];
  for (const [yaml, at] of cases) {
    const [issue, ...rest] = issuesOf(yaml);
    assert.deepEqual(rest, [], yaml);
    assert.equal(issue.code, "yaml-syntax", yaml);
    assert.equal(`${issue.line}:${issue.column}`, at, yaml);
  }
  // A tab is still shown where it is.
  assert.equal(brief("name: t\nvms:\n\ta: {}\n")[0].split(" ")[0], "3:1");
});

Deno.test("a list, string or set of the wrong length says how many items or characters, not a range", () => {
  const schema = z.strictObject({
    argv: z.array(z.string()).min(1).optional(),
    pair: z.array(z.string()).length(2).optional(),
    few: z.array(z.string()).max(2).optional(),
    tag: z.string().min(2).max(4).optional(),
    code: z.string().length(3).optional(),
    ids: z.set(z.number()).min(1).optional(),
  });
  const of = (value: unknown) =>
    schemaProblems(schema, value, { what: "The drill", docs: "docs/drills.md" }).map((p) =>
      `${p.code} ${p.message} / ${p.hint}`
    );
  assert.deepEqual(of({ argv: [] }), [
    "out-of-range argv needs at least 1 item, got none / add 1 item to the list",
  ]);
  assert.deepEqual(of({ pair: ["a"], few: ["a", "b", "c"] }), [
    "out-of-range pair needs exactly 2 items, got 1 / write a list of 2 items",
    "out-of-range few takes at most 2 items, got 3 / remove 1 item from the list",
  ]);
  assert.deepEqual(of({ tag: "a", code: "abcd" }), [
    'out-of-range tag must be at least 2 characters long, got "a" / write 2 to 4 characters',
    'out-of-range code must be exactly 3 characters long, got "abcd" / write 3 characters',
  ]);
  assert.deepEqual(of({ tag: "abcdefg" }), [
    'out-of-range tag must be at most 4 characters long, got "abcdefg" / write 2 to 4 characters',
  ]);
  assert.deepEqual(of({ ids: new Set() }), [
    "out-of-range ids needs at least 1 item, got none / add 1 item to the set",
  ]);
  // Numbers keep their range, in a topology too.
  assert.deepEqual(brief("name: x\nvms: { a: { mtu: 20 } }\n"), [
    "2:18 out-of-range mtu must be between 68 and 9000, got 20",
  ]);
  assert.equal(
    issuesOf("name: x\nvms: { a: { mtu: 20 } }\n")[0].hint,
    "write a whole number from 68 to 9000",
  );
});

Deno.test("a document nested 65 to 20,000 levels deep is too-deep where it passes 64 levels, every run", () => {
  const flowMaps = (n: number) => "name: d\nvms: " + "{a: ".repeat(n) + "1" + "}".repeat(n) + "\n";
  const flowLists = (n: number) => "name: d\nvms: " + "[".repeat(n) + "1" + "]".repeat(n) + "\n";
  const blockMaps = (n: number) =>
    "name: d\nvms:\n" + Array.from({ length: n }, (_, i) => `${"  ".repeat(i + 1)}a:\n`).join("") +
    `${"  ".repeat(n + 1)}1\n`;
  const compactLists = (n: number) => "name: d\nvms:\n  a:\n    " + "- ".repeat(n) + "1\n";
  const cases: [string, string, string][] = [
    // vms is level 1: the 64th `{` or `[` is level 65.
    ...[1000, 3000, 20_000].map((n): [string, string, string] => [
      `${n} flow maps`,
      flowMaps(n),
      `2:${6 + 63 * 4}`,
    ]),
    ...[1000, 3000, 20_000].map((n): [string, string, string] => [
      `${n} flow lists`,
      flowLists(n),
      `2:${6 + 63}`,
    ]),
    ["300 block maps", blockMaps(300), `66:129`],
    // vms and a are levels 1 and 2: the 63rd `-` is level 65.
    ["3000 compact lists", compactLists(3000), `4:${5 + 62 * 2}`],
  ];
  for (const [what, text, at] of cases) {
    for (let run = 0; run < 2; run++) {
      const issues = issuesOf(text);
      assert.deepEqual(
        issues.map((i) => `${i.line}:${i.column} ${i.code} ${i.message} / ${i.hint}`),
        [
          `${at} too-deep Cannot read the document: it is nested too deeply / a topology nests ` +
          "a few levels deep; remove the extra brackets or indentation",
        ],
        what,
      );
    }
  }
  // 64 levels are read (and refused for what they hold, not for their depth).
  assert.notEqual(issuesOf(flowMaps(63))[0].code, "too-deep");
  assert.notEqual(issuesOf(flowLists(63))[0].code, "too-deep");
});

Deno.test("an unknown key's hint lists every key of its map, not the first eight and '…'", () => {
  // `cid:` written on the VM: the key it belongs under, `vsock`, was the ninth and hidden.
  const [vm] = issuesOf("name: x\nvms:\n  a: { cid: 3 }\n");
  assert.equal(vm.code, "unknown-key");
  assert.equal(
    vm.hint,
    "expected one of `memory`, `poll_us`, `layout`, `queue_size`, `features`, `mtu`, " +
      "`tx_timeout`, `nics`, `vsock`, `iommu`",
  );
  const [link] = issuesOf(LINK("zzz: 1"));
  assert.match(link.hint ?? "", /`limit`, `forward`, `reverse`$/);
});

Deno.test("a scalar YAML read as the other type says to quote it, or to unquote the number", () => {
  // `name: 123` was 'write a string here': a YAML number, which quotes make a string.
  const [name] = issuesOf("name: 123\nvms: {}\n");
  assert.equal(name.message, "name must be a string, got 123");
  assert.equal(name.hint, "YAML reads it as a number: put it in double quotes");
  const [yes] = issuesOf("name: x\nvms: { a: { nics: { eth0: { ip: true } } } }\n");
  assert.equal(yes.hint, "YAML reads it as a boolean: put it in double quotes");
  const [poll] = issuesOf('name: x\nvms: { a: { poll_us: "5" } }\n');
  assert.equal(poll.message, 'vms.a.poll_us must be a number, got "5"');
  assert.equal(poll.hint, "write the number without quotes: poll_us: 5");
  // Anything else keeps the hint that says what to write.
  const [list] = issuesOf("name: x\nvms: { a: { nics: { eth0: { ip: [1] } } } }\n");
  assert.match(list.hint ?? "", /^write a string here; docs\/topology\.md describes `ip`$/);
});

Deno.test("one of YAML's own tags on a value it does not fit is named !!int, not an unknown URI", () => {
  // It said 'Unknown YAML tag "tag:yaml.org,2002:int": a topology holds plain values'.
  const [int] = issuesOf("name: x\nvms:\n  a: { memory: !!int abc }\n");
  assert.equal(int.code, "yaml-syntax");
  assert.equal(`${int.line}:${int.column}`, "3:16");
  assert.equal(int.message, 'YAML tag "!!int" does not fit this value');
  assert.equal(int.hint, 'remove "!!int": it takes a whole number such as 5');
  const [str] = issuesOf("name: x\nvms:\n  a: !!str {}\n");
  assert.equal(str.message, 'YAML tag "!!str" does not fit this value');
  assert.equal(str.hint, 'remove "!!str": it takes a single value (not a map or a list)');
});

Deno.test("a reorder without delay on both directions does not hide a reverse distribution without jitter", () => {
  const issues = issuesOf(
    "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
      "links: [{ endpoints: [a, b], reorder: 5%, reverse: { distribution: normal } }]\n",
  );
  // Each at its value: the shared reorder once, the reverse's distribution too.
  const codes = issues.map((i) => `${i.code} ${i.line}:${i.column}`);
  assert.deepEqual(codes.sort(), [
    "distribution-without-jitter 3:68",
    "reorder-without-delay 3:39",
  ]);
});

Deno.test("a defaults.link distribution or reorder is reported once, naming every link it breaks", () => {
  const star = "name: x\nvms:\n  a: { nics: { e0: {} } }\n  b: { nics: { e0: {} } }\n" +
    "  c: { nics: { e0: {} } }\n  d: { nics: { e0: {} } }\nswitches: { sw: {} }\nlinks:\n" +
    "  - { endpoints: [a, sw] }\n  - { endpoints: [b, sw] }\n" +
    "  - { endpoints: [c, sw], reverse: { jitter: 1ms, delay: 1ms } }\n";
  // It was once per link, each at the same line:column.
  assert.deepEqual(
    brief("name: x\ndefaults:\n  link: { distribution: normal, reorder: 5% }\n" + star.slice(8)),
    [
      '3:25 distribution-without-jitter Cannot set a distribution on links "a-sw", "b-sw" and ' +
      '"c-sw" (forward) without a jitter',
      '3:42 reorder-without-delay Cannot reorder on links "a-sw", "b-sw" and "c-sw" (forward) ' +
      "without a delay",
    ],
  );
  // More links than a message names are counted.
  const [many] = brief(
    "name: x\ndefaults:\n  link: { distribution: pareto }\n" + star.slice(8) +
      "  - { endpoints: [d, sw] }\n",
  );
  assert.equal(
    many,
    '3:25 distribution-without-jitter Cannot set a distribution on links "a-sw", "b-sw", ' +
      '"c-sw" (forward) and 1 more without a jitter',
  );
  // A link's own key breaking both its directions names the link without a direction.
  assert.deepEqual(brief(LINK("distribution: pareto")), [
    '7:19 distribution-without-jitter Cannot set a distribution on link "a-b" without a jitter',
  ]);
});

Deno.test("a distribution with a jitter but no delay is refused in a file, as tc refuses it", () => {
  assert.deepEqual(brief(LINK("jitter: 5ms\n    distribution: pareto")), [
    '8:19 distribution-without-delay Cannot set a distribution on link "a-b" without a delay',
  ]);
  // Without a jitter either, the jitter is what is asked first (one problem, not two).
  assert.deepEqual(brief(LINK("distribution: pareto")), [
    '7:19 distribution-without-jitter Cannot set a distribution on link "a-b" without a jitter',
  ]);
  // A delay of one direction's own leaves the other without one.
  assert.deepEqual(
    brief(LINK("jitter: 5ms\n    distribution: pareto\n    forward: { delay: 1ms }")),
    [
      '8:19 distribution-without-delay Cannot set a distribution on link "a-b" (reverse) ' +
      "without a delay",
    ],
  );
});

Deno.test("a vsock link's distribution needs a jitter in a file, as live", () => {
  const vms = "name: x\nvms:\n  a: { vsock: { cid: 3 } }\n  b: { vsock: { cid: 4 } }\n";
  assert.deepEqual(
    brief(
      vms + "links:\n  - { kind: vsock, endpoints: [a, b], reverse: { distribution: normal } }\n",
    ),
    [
      '6:64 distribution-without-jitter Cannot set a distribution on link "a-b-vsock" ' +
      "(reverse) without a jitter",
    ],
  );
  // A default reaches it too (a vsock link takes `distribution` and `jitter` of defaults.link).
  assert.deepEqual(
    brief(
      "name: x\ndefaults: { link: { distribution: normal } }\n" + vms.slice(8) +
        "links:\n  - { kind: vsock, endpoints: [a, b] }\n",
    ),
    [
      '2:35 distribution-without-jitter Cannot set a distribution on link "a-b-vsock" ' +
      "without a jitter",
    ],
  );
});

Deno.test("defaults.link does not reach a vhost-pci link: no problem of its own, no impairment", () => {
  const yaml = "name: x\ndefaults: { link: { delay: 5ms, loss: 1%, distribution: normal } }\n" +
    "vms:\n  a: { nics: { e0: {} } }\n  b: { nics: { e0: {} } }\n" +
    "links:\n  - { kind: vhost-pci, endpoints: [a, b] }\n";
  // The default's distribution was reported against the vhost-pci link "a-b", and the built
  // link carried the default's delay and loss (vlab validate --json showed them).
  const r = parseTopology(yaml, "t.yaml");
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const [link] = r.value.links;
  assert.deepEqual([link.kind, link.forward, link.reverse], [
    "vhost-pci",
    NO_IMPAIRMENT,
    NO_IMPAIRMENT,
  ]);
});

Deno.test("a defaults.vm memory too small for several VMs is reported once, naming them", () => {
  const vm = (n: string) => `  ${n}: { nics: { e0: { mtu: 9000 } } }\n`;
  const yaml = (names: string[]) =>
    "name: x\ndefaults: { vm: { memory: 1MiB }, nic: { features: [] } }\nvms:\n" +
    names.map(vm).join("") + "  big: { memory: 2MiB, nics: { e0: { mtu: 9000 } } }\n";
  // It was once per VM, each at defaults.vm.memory's line:column; a VM's own key stays its own.
  assert.deepEqual(brief(yaml(["a", "b", "c"])), [
    '2:27 memory-too-small VMs "a", "b" and "c" need up to 4.5MiB of guest memory for their ' +
    "devices' rings and buffers, got 1MiB",
    '7:18 memory-too-small VM "big" needs 4.5MiB of guest memory for its NICs\' rings and ' +
    "buffers, got 2MiB",
  ]);
  const [many] = issuesOf(yaml(["a", "b", "c", "d", "e"]));
  assert.match(many.message, /^VMs "a", "b", "c" and 2 more need up to 4\.5MiB/);
  assert.equal(many.hint, "set memory: 5MiB or more, or use a smaller queue_size");
  // One VM: the message as before.
  assert.match(issuesOf(yaml(["a"]))[0].message, /^VM "a" needs 4\.5MiB/);
});

Deno.test("a value one of YAML's tags made (!!set, !!omap, !!binary) is named by its tag, not a script's class", () => {
  // It said "got a Set" with the hint "write an array; [...set] makes one", to a YAML file.
  assert.deepEqual(
    issuesOf("name: x\nvms:\n  a: { nics: { e0: { features: !!set { csum, indirect } } } }\n")
      .map((i) => `${i.line}:${i.column} ${i.code} ${i.message} | ${i.hint}`),
    [
      "3:38 wrong-type vms.a.nics.e0.features must be a list, got a YAML !!set | remove !!set " +
      "and write a list, [a, b] here",
    ],
  );
  const [omap] = issuesOf("name: x\nvms: !!omap [ a: {} ]\n");
  assert.equal(omap.message, "vms must be a map, got a YAML !!omap");
  assert.equal(omap.hint, "remove !!omap and write a map, { key: value } here");
  const [bytes] = issuesOf("name: !!binary aGVsbG8=\nvms: {}\n");
  assert.equal(bytes.message, "name must be a string, got a YAML !!binary");
});

Deno.test("an endpoint in a file that defines no VM yet says what to add, not to name one defined", () => {
  const hints = issuesOf(
    "name: x\nvms: {}\nlinks:\n  - endpoints: [a, b:e1]\n  - { kind: vsock, endpoints: [c, d] }\n",
  ).map((i) => `${i.line}:${i.column} ${i.hint}`);
  // Each was "name a VM, NIC or switch defined in the file" (there is none), or for vsock "a
  // vsock link joins two VMs, or a VM and a vsock router, by name".
  assert.deepEqual(hints, [
    "4:17 the file defines none yet: add a: { nics: { eth0: {} } } under vms, or a: {} under " +
    "switches",
    "4:20 the file defines none yet: add b: { nics: { e1: {} } } under vms",
    "5:32 the file defines none yet: add c: { vsock: { cid: 3 } } under vms",
    "5:35 the file defines none yet: add d: { vsock: { cid: 4 } } under vms",
  ]);
  // With VMs to suggest, the did-you-mean as before.
  const [near] = issuesOf("name: x\nvms: { ab: {} }\nlinks:\n  - endpoints: [a, ab]\n");
  assert.equal(near.hint, "did you mean `ab`?");
});

Deno.test("an endpoint that is a NIC's name alone says which VMs have that NIC", () => {
  const vms = "name: x\nvms: { a: { nics: { eth0: {}, e1: {} } }, b: { nics: { eth0: {} } } }\n" +
    "switches: { sw: {} }\nlinks:\n";
  // It was 'Unknown VM or switch "eth0"' with "expected one of `a`, `b`, `sw`".
  assert.deepEqual(brief(vms + "  - endpoints: [eth0, sw]\n"), [
    '5:17 unknown-endpoint Endpoint "eth0" names a NIC, not a VM or switch',
  ]);
  const [issue] = issuesOf(vms + "  - endpoints: [eth0, sw]\n");
  assert.equal(issue.hint, 'write the VM before it: "a:eth0" or "b:eth0"');
  assert.equal(issuesOf(vms + "  - endpoints: [zz, sw]\n")[0].message, 'Unknown VM or switch "zz"');
});

Deno.test("a number written with YAML 1.1's digit separators (1_500) says to drop them", () => {
  // The hint was the generic "write a number here; docs/topology.md describes `mtu`" for a value
  // that looks like a number.
  const [mtu] = issuesOf("name: x\nvms: { a: { nics: { e: { mtu: 1_500 } } } }\n");
  assert.equal(mtu.message, 'vms.a.nics.e.mtu must be a number, got "1_500"');
  assert.equal(
    mtu.hint,
    'write the number without "_" (YAML 1.2 has no digit separators): mtu: 1500',
  );
  // Not a number with separators: the hint says what to write, as before.
  const [word] = issuesOf("name: x\nvms: { a: { poll_us: a_1 } }\n");
  assert.match(word.hint ?? "", /^write a number here/);
});

Deno.test("an integer with a leading zero (cid: 010) is refused: YAML 1.1 reads it as octal", () => {
  // It was read as 10, where a YAML 1.1 tool reads 8: the file meant two CIDs.
  assert.deepEqual(brief("name: x\nvms: { a: { vsock: { cid: 010 } } }\n"), [
    "2:27 leading-zero cid 010 is written with a leading zero, which YAML 1.1 tools read as " +
    "octal (8) and vlab (YAML 1.2) as 10",
  ]);
  const hint = (yaml: string) => issuesOf(yaml)[0].hint;
  assert.equal(
    hint("name: x\nvms: { a: { vsock: { cid: 010 } } }\n"),
    "write cid: 10 (or cid: 0o10 for octal 8)",
  );
  // Not octal in YAML 1.1 (a string there): only the decimal.
  assert.equal(hint("name: x\nvms: { a: { vsock: { cid: 09 } } }\n"), "write cid: 9");
  // Other integer keys too, beside the file's other problems.
  assert.deepEqual(
    issuesOf(
      "name: x\nvms: { a: { nics: { e: { mtu: 01500 } } }, b: { poll_us: fast } }\n",
    ).map((i) => i.code),
    ["leading-zero", "wrong-type"],
  );
  // A key that takes a string says to quote it, as before; octal and 0 are taken.
  assert.equal(issuesOf("name: 010\nvms: {}\n")[0].code, "wrong-type");
  assert.ok(parseTopology("name: x\nvms: { a: { vsock: { cid: 0o10 } } }\n", "t").ok);
  assert.ok(parseTopology("name: x\nvms: { a: { vsock: { cid: 10 } } }\n", "t").ok);
  // The same number to YAML 1.1 and 1.2 (octal 7 is 7, octal 0 is 0): taken, nothing to choose.
  for (const same of ["07", "007", "00", "+03"]) {
    const r = parseTopology(`name: x\nvms: { a: { vsock: { cid: ${same} } } }\n`, "t");
    assert.ok(r.ok || !r.error.some((i) => i.code === "leading-zero"), same);
  }
  assert.ok(parseTopology("name: x\nvms: { a: { vsock: { cid: 07 } } }\n", "t").ok);
  // A drill's leading zero is the drill's to judge: the file is one wrong-kind problem, which
  // `vlab validate` takes as a drill. Both were said, and the drill was judged as a topology.
  const drill = parseTopology("topology: pair\nseed: 010\ntimeline: []\n", "d.yaml");
  assert.deepEqual(drill.ok ? [] : drill.error.map((i) => i.code), ["wrong-kind"]);
});

Deno.test("a boolean in quotes or in YAML 1.1's words (yes, on) says what to write", () => {
  const hint = (v: string) =>
    issuesOf(`name: x\nvms: { a: { nics: { e: { iommu: ${v} } } } }\n`)[0].hint;
  // Each was "write true or false here; docs/topology.md describes `iommu`".
  assert.equal(hint('"true"'), "write it without quotes: iommu: true");
  assert.equal(hint("yes"), 'YAML 1.2 reads "yes" as a string: write iommu: true');
  assert.equal(hint("off"), 'YAML 1.2 reads "off" as a string: write iommu: false');
  assert.match(hint("maybe") ?? "", /^write true or false here/);
});

Deno.test("a stray line that breaks the YAML stream is one problem, not one per token after it", () => {
  // A Markdown fence copied with the example: the parser then met every token as unexpected.
  const text =
    "```yaml\n# the pair\nname: pair\nvms:\n  a: { nics: { eth0: { ip: 10.0.0.1/24 } } }\n" +
    "  b: { nics: { eth0: { ip: 10.0.0.2/24 } } }\nlinks:\n  - endpoints: [a:eth0, b:eth0]\n```\n";
  const r = parseTopology(text, "x.yaml");
  assert.ok(!r.ok);
  assert.equal(r.error.length, 1, JSON.stringify(r.error));
  assert.deepEqual([r.error[0].line, r.error[0].column], [1, 1]);
  assert.match(
    r.error[0].hint!,
    /the YAML after it could not be read \(\d+ more parser errors not shown\)$/,
  );
});
