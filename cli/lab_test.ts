import assert from "node:assert/strict";
import { VlabError } from "./errors.ts";
import { fileNotRead, loadOrFail, tryLine, tryTarget } from "./lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/mod.ts";

Deno.test("a topology with one problem is refused with a hint that says 'fix it', not 'fix them'", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/one.yaml`;
    await Deno.writeTextFile(path, "name: one\nvms:\n  a: { memory: 1 }\n");
    const e = await loadOrFail(path).then(() => null, (e: unknown) => e);
    assert.ok(e instanceof VlabError);
    assert.match(e.message, /: 1 problem \(above\)$/);
    // The file named: a bare `vlab validate` checks the shipped pair.
    assert.equal(
      e.hint,
      `Fix it and run \`vlab validate ${path}\` again; \`vlab schema\` gives editors completion`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vlab up's try line says how the lab stops: Ctrl-C without the dashboard, q or Ctrl-C asks in it", () => {
  assert.equal(
    tryLine("a", "ping", false),
    "try: vlab exec a -- ping ... · vlab status · Ctrl-C stops",
  );
  // The dashboard reads Ctrl-C as q: it asks whether to stop (it said "Ctrl-C stops").
  assert.equal(
    tryLine("a", "ping", true),
    "try: vlab exec a -- ping ... · vlab status · q or Ctrl-C asks whether to stop",
  );
  assert.equal(
    tryLine(undefined, "ping", false),
    "try: vlab exec VM -- ping ... · vlab status · Ctrl-C stops",
  );
});

Deno.test("vlab up's try line suggests what the lab's VMs can run: no ping in a VM without a NIC", () => {
  // A lab of vsock VMs was told "try: vlab exec a -- ping ...", which fails there.
  const plan = (yaml: string) => {
    const t = parseTopology(yaml, "t.yaml");
    assert.ok(t.ok);
    return planLab(t.value);
  };
  assert.deepEqual(
    tryTarget(plan("name: v\nvms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } }\n")),
    ["a", "vsock-echo"],
  );
  assert.deepEqual(
    tryTarget(plan("name: m\nvms: { a: { vsock: { cid: 3 } }, b: { nics: { eth0: {} } } }\n")),
    ["b", "ping"],
  );
  assert.deepEqual(tryTarget(plan("name: e\nvms: {}\n")), [undefined, "ping"]);
});

Deno.test("vlab up - hints to save the topology to a file, not to run 'vlab validate -' again", async () => {
  const e = await loadOrFail("-").then(() => null, (e: unknown) => e);
  assert.ok(e instanceof VlabError);
  assert.doesNotMatch(e.hint ?? "", /validate -/);
  assert.equal(
    e.hint,
    "A topology is read from a file, not from stdin: save it to a file and give its path, " +
      "or give a shipped name such as pair",
  );
});

Deno.test("a topology file that cannot be read is the error itself, not '1 problem (above)'", async () => {
  // `vlab up pari` printed the problem, then 'Cannot use "pari": 1 problem (above)' with the hint
  // 'Fix it and run `vlab validate pari` again; `vlab schema` gives editors completion'.
  const dir = await Deno.makeTempDir();
  try {
    for (
      const [file, message, hint] of [
        ["pari", 'Cannot read topology file "pari": no such file', /^Did you mean `pair`\? /],
        [dir, `Cannot read topology file "${dir}": it is a folder`, /^Give a YAML file/],
      ] as const
    ) {
      const e = await loadOrFail(file).then(() => null, (e: unknown) => e);
      assert.ok(e instanceof VlabError, String(e));
      assert.equal(e.code, "topology-invalid");
      assert.equal(e.message, message);
      assert.match(e.hint, hint);
    }
    assert.equal(fileNotRead([]), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
