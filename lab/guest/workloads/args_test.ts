import assert from "node:assert/strict";
import { parseWorkload } from "./args.ts";

function error(argv: string[]) {
  const r = parseWorkload(argv);
  assert.equal(r.ok, false, `expected ${argv.join(" ")} to fail`);
  return r.ok ? null! : r.error;
}

Deno.test("ping parses with iputils defaults and flags", () => {
  assert.deepEqual(parseWorkload(["ping", "10.0.0.2"]), {
    ok: true,
    value: { kind: "ping", dst: 0x0a000002, count: 3, intervalS: 1, size: 56, timeoutS: 1 },
  });
  const r = parseWorkload(["ping", "-c5", "10.0.0.2", "-i", "0.001", "-s", "1000", "-W", "2"]);
  assert.deepEqual(r.ok && r.value, {
    kind: "ping",
    dst: 0x0a000002,
    count: 5,
    intervalS: 0.001,
    size: 1000,
    timeoutS: 2,
  });
});

Deno.test("udp-flood, udp-echo and sink parse their defaults", () => {
  const flood = parseWorkload(["udp-flood", "10.0.0.2"]);
  assert.deepEqual(flood.ok && flood.value, {
    kind: "udp-flood",
    dst: 0x0a000002,
    port: 9,
    frameSize: 64,
    ratePps: null,
    seconds: 1,
    count: null,
  });
  const counted = parseWorkload(["udp-flood", "10.0.0.2", "-n", "100", "-r", "5000", "--port=99"]);
  assert.deepEqual(counted.ok && [counted.value], [{
    kind: "udp-flood",
    dst: 0x0a000002,
    port: 99,
    frameSize: 64,
    ratePps: 5000,
    seconds: null,
    count: 100,
  }]);
  const echo = parseWorkload(["udp-echo"]);
  assert.deepEqual(echo.ok && echo.value, { kind: "udp-echo", port: 7, seconds: null });
  const sink = parseWorkload(["sink", "-t", "0"]);
  assert.deepEqual(sink.ok && sink.value, { kind: "sink", port: 9, seconds: null, count: null });
  // -n alone waits as long as it takes; with -t, whichever comes first.
  assert.deepEqual(parseWorkload(["sink", "-n", "5000"]), {
    ok: true,
    value: { kind: "sink", port: 9, seconds: null, count: 5000 },
  });
  assert.deepEqual(parseWorkload(["sink", "--count", "7", "-t", "3"]), {
    ok: true,
    value: { kind: "sink", port: 9, seconds: 3, count: 7 },
  });
  assert.equal(parseWorkload(["sink", "-n", "0"]).ok, false);
});

Deno.test("-t 0 is until stopped for every receiving workload, as sink's is", () => {
  // udp-echo, vsock-echo and vsock-sink refused it ("must be between 0.001 and 86400").
  for (const kind of ["sink", "udp-echo", "vsock-echo", "vsock-sink"]) {
    const r = parseWorkload([kind, "-t", "0"]);
    assert.ok(r.ok, `${kind} -t 0: ${!r.ok && r.error.message}`);
    assert.equal((r.value as { seconds: number | null }).seconds, null, kind);
    const t = parseWorkload([kind, "-t", "2.5"]);
    assert.equal(t.ok && (t.value as { seconds: number | null }).seconds, 2.5, kind);
    const bad = parseWorkload([kind, "-t", "-1"]);
    assert.ok(!bad.ok);
    assert.equal(
      bad.error.message,
      `Cannot run ${kind}: -t duration (seconds, 0 = until stopped) must be between 0 and 86400, got -1`,
    );
  }
  const sink = parseWorkload(["vsock-sink"]);
  assert.equal(sink.ok && sink.value.kind === "vsock-sink" && sink.value.seconds, 10);
  // A flood sends: it has no "until stopped", -t 0 stays refused.
  assert.equal(parseWorkload(["udp-flood", "10.0.0.2", "-t", "0"]).ok, false);
});

Deno.test("bad arguments give a one-line message and a usage hint", () => {
  const cases: [string[], string][] = [
    [["ping"], "Cannot run ping: missing destination address DST"],
    [
      ["ping", "10.0.0.300"],
      'Cannot run ping: destination must be an IPv4 address like 10.0.0.2, got "10.0.0.300"',
    ],
    [
      ["ping", "10.0.0.2", "-c", "0"],
      "Cannot run ping: -c count must be between 1 and 1000000, got 0",
    ],
    [["ping", "10.0.0.2", "-c", "x"], 'Cannot run ping: -c needs an integer count, got "x"'],
    // Decimal digits, as iputils reads -c: these were taken as 16, 1000 and 2.
    [["ping", "10.0.0.2", "-c", "0x10"], 'Cannot run ping: -c needs an integer count, got "0x10"'],
    [
      ["vsock-send", "4", "5000", "-b", "1e3"],
      'Cannot run vsock-send: -b needs an integer byte count, got "1e3"',
    ],
    [["sink", "-n", "2.0"], 'Cannot run sink: -n needs an integer count, got "2.0"'],
    [["ping", "10.0.0.2", "-i"], "Cannot run ping: -i needs a value"],
    [["ping", "10.0.0.2", "-q"], 'Cannot run ping: unknown option "-q"'],
    [["ping", "10.0.0.2", "10.0.0.3"], 'Cannot run ping: unexpected argument "10.0.0.3"'],
    [
      ["udp-flood", "10.0.0.2", "-s", "59"],
      "Cannot run udp-flood: -s frame size (Ethernet bytes) must be between 60 and 65535, got 59",
    ],
    [
      ["udp-flood", "10.0.0.2", "-r", "10", "--max"],
      "Cannot run udp-flood: -r and --max cannot be combined",
    ],
    [
      ["udp-flood", "10.0.0.2", "-t", "1", "-n", "5"],
      "Cannot run udp-flood: -t and -n cannot be combined",
    ],
  ];
  for (const [argv, message] of cases) {
    const e = error(argv);
    assert.equal(e.message, message);
    assert.match(e.hint, new RegExp(`^Usage: ${argv[0]} `));
    assert.ok(!e.message.endsWith("."));
  }
});

Deno.test("an unknown workload suggests the closest name", () => {
  assert.deepEqual(error(["pnig"]), {
    message: 'Unknown workload "pnig"',
    hint:
      'Did you mean "ping"? Workloads: ping, udp-echo, udp-flood, sink, vsock-echo, vsock-send, vsock-sink, iommu-unmap',
  });
  assert.equal(error([]).message, "Missing workload name");
  // An insertion, a deletion and a substitution each cost one edit; three edits still suggest.
  assert.match(error(["udp-flod"]).hint, /^Did you mean "udp-flood"\? /);
  assert.match(error(["vsock-echoo"]).hint, /^Did you mean "vsock-echo"\? /);
  assert.match(error(["sunk"]).hint, /^Did you mean "sink"\? /);
  assert.match(error(["iommu-map"]).hint, /^Did you mean "iommu-unmap"\? /);
  assert.match(error(["xsnk-xx"]).hint, /^Workloads: /);
  assert.equal(
    error(["iperf3-server-xyz"]).hint,
    "Workloads: ping, udp-echo, udp-flood, sink, vsock-echo, vsock-send, vsock-sink, iommu-unmap",
  );
});

Deno.test("a workload's words in one string, a leading -- or capitals say what to write", () => {
  // Each was "Unknown workload" with the list alone: a script that wrote exec(["ping 10.0.0.2"])
  // or copied the `--` of `vlab exec a -- ping`, or a name in capitals, was not told why.
  assert.equal(
    error(["ping 10.0.0.2 -c 1"]).hint,
    'Each word is an argument of its own: "ping", "10.0.0.2", "-c", "1", not one with spaces',
  );
  assert.equal(
    error(["--", "ping", "10.0.0.2"]).hint,
    'Leave the "--" out: the words start at the workload\'s name, "ping"',
  );
  assert.match(error(["PING", "10.0.0.2"]).hint, /^Did you mean "ping"\? /);
  assert.match(error(["Udp-Flood"]).hint, /^Did you mean "udp-flood"\? /);
  // A word with spaces that starts with no workload's name gets the list, as before.
  assert.match(error(["hello world"]).hint, /^Workloads: /);
});

Deno.test("names of Object.prototype are unknown workloads and unknown options, not lookups", () => {
  for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"]) {
    assert.match(error([name]).message, new RegExp(`Unknown workload "${name}"`));
    // As an option of a real workload it is an argument, never a flag found on the prototype.
    assert.match(error(["sink", name]).message, new RegExp(`unexpected argument "${name}"`));
  }
  assert.match(error(["ping", "10.0.0.2", "constructor"]).message, /unexpected argument/);
});

Deno.test("vsock-send takes CID and PORT, -b and --chunk; vsock-sink and vsock-echo take -p", () => {
  assert.deepEqual(parseWorkload(["vsock-send", "4", "5000", "-b", "100", "--chunk", "10"]), {
    ok: true,
    value: { kind: "vsock-send", cid: 4, port: 5000, bytes: 100, chunk: 10 },
  });
  assert.deepEqual(parseWorkload(["vsock-sink", "-p", "7"]), {
    ok: true,
    value: { kind: "vsock-sink", port: 7, seconds: 10 },
  });
  assert.deepEqual(parseWorkload(["vsock-echo"]), {
    ok: true,
    value: { kind: "vsock-echo", port: 7, seconds: null },
  });
  const missing = parseWorkload(["vsock-send", "4"]);
  assert.ok(!missing.ok);
  assert.equal(missing.error.message, "Cannot run vsock-send: missing destination PORT");
  assert.match(missing.error.hint, /^Usage: vsock-send CID PORT/);
  const bad = parseWorkload(["vsock-send", "1", "80"]);
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /destination CID must be an integer between 2 and/);
  // A long option is named as typed: --chunk, not -chunk.
  const chunk = parseWorkload(["vsock-send", "4", "80", "--chunk", "0"]);
  assert.ok(!chunk.ok);
  assert.match(chunk.error.message, /: --chunk write size \(bytes\) must be between 1 and/);
  const chunkText = parseWorkload(["vsock-send", "4", "80", "--chunk", "x"]);
  assert.ok(!chunkText.ok);
  assert.match(chunkText.error.message, /: --chunk needs an integer/);
});

Deno.test("iommu-unmap takes the NIC whose DMA window to revoke, and nothing else", () => {
  assert.deepEqual(parseWorkload(["iommu-unmap", "eth0"]), {
    ok: true,
    value: { kind: "iommu-unmap", device: "eth0" },
  });
  assert.match(error(["iommu-unmap"]).message, /missing the NIC/);
  assert.match(error(["iommu-unmap", "eth0", "eth1"]).message, /unexpected argument "eth1"/);
});

Deno.test("an unknown workload's name is echoed cut at 64 characters and escaped", () => {
  const r = parseWorkload(["x".repeat(1000)]);
  assert.ok(!r.ok);
  assert.equal(r.error.message, `Unknown workload "${"x".repeat(64)}…"`);
  const control = parseWorkload(["a\u001b[31mb"]);
  assert.ok(!control.ok);
  assert.equal(control.error.message, 'Unknown workload "a\\x1b[31mb"');
});

Deno.test("every word a message echoes is quoted, escaped and cut, not only an unknown workload's", () => {
  // A destination, an option, an extra argument or a value with an escape sequence reached a
  // script's terminal raw through the error's message.
  const cases: [string[], string][] = [
    [["ping", "\u001b[2J"], 'got "\\x1b[2J"'],
    [["ping", "10.0.0.2", "-c", "\u001b[2J"], 'got "\\x1b[2J"'],
    [["ping", "10.0.0.2", "-\u001b[2J"], 'option "-\\x1b[2J"'],
    [["ping", "10.0.0.2", "\u001b[2J"], 'argument "\\x1b[2J"'],
    [["vsock-send", "\u001b[2J", "5"], 'got "\\x1b[2J"'],
    [["ping", "10.0.0.2", "-c", "\n0"], "got 0"],
    [["ping", "y".repeat(500)], `got "${"y".repeat(64)}…"`],
  ];
  for (const [argv, shown] of cases) {
    const { message } = error(argv);
    assert.ok(message.includes(shown), `${JSON.stringify(argv)}: ${message}`);
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(message, /[\u0000-\u001f]/, JSON.stringify(argv));
  }
});

Deno.test("an option given twice is refused, naming both values, however it is spelled", () => {
  // The last one won: `ping -c 1 -c 1000` sent a thousand.
  const cases: [string[], string][] = [
    [["ping", "10.0.0.2", "-c", "1", "-c", "1000"], '-c is given twice ("1", then "1000")'],
    [["ping", "10.0.0.2", "-c1", "-c", "2"], '-c is given twice ("1", then "2")'],
    [["udp-flood", "10.0.0.2", "-n", "2", "-n", "3"], '-n is given twice ("2", then "3")'],
    [["sink", "-t", "0.1", "-t", "0.2"], '-t is given twice ("0.1", then "0.2")'],
  ];
  for (const [argv, message] of cases) {
    const r = parseWorkload(argv);
    assert.ok(!r.ok, argv.join(" "));
    assert.equal(r.error.message, `Cannot run ${argv[0]}: ${message}`);
    assert.match(r.error.hint, /^Give -\w once, with the value you mean$/);
  }
  // A switch given twice says nothing else: it is taken.
  assert.ok(parseWorkload(["udp-flood", "10.0.0.2", "--max", "--max"]).ok);
});

Deno.test("vlab exec's own options after the -- say where they go", () => {
  const r = parseWorkload(["ping", "10.0.0.2", "-c", "1", "--json"]);
  assert.ok(!r.ok);
  assert.equal(r.error.message, 'Cannot run ping: unknown option "--json"');
  assert.equal(
    r.error.hint,
    "--json is vlab exec's own option: put it before the -- (vlab exec --json VM -- ping …)",
  );
  const lab = parseWorkload(["sink", "--lab=pair"]);
  assert.ok(!lab.ok);
  assert.equal(
    lab.error.hint,
    "--lab is vlab exec's own option: put it before the -- (vlab exec --lab LAB VM -- sink …)",
  );
});

Deno.test("vsock workloads take ports up to 4294967294: 4294967295 is VMADDR_PORT_ANY", () => {
  for (
    const argv of [
      ["vsock-send", "4", "4294967295"],
      ["vsock-sink", "-p", "4294967295"],
      ["vsock-echo", "-p", "4294967295"],
    ]
  ) {
    const r = parseWorkload(argv);
    assert.ok(!r.ok, argv.join(" "));
    assert.match(r.error.message, /between 0 and 4294967294, got "?4294967295"?$/);
  }
  const top = parseWorkload(["vsock-sink", "-p", "4294967294"]);
  assert.ok(top.ok && top.value.kind === "vsock-sink" && top.value.port === 4294967294);
});
