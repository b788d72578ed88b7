import assert from "node:assert/strict";
import { startAgain, upAgain } from "./start_again.ts";
import { resolveTopologyPath } from "./topology/files.ts";

Deno.test("upAgain names the lab's topology: a shipped one by name, a file by its path, quoted", () => {
  // A bare `vlab up` starts pair: the hint after star stopped sent users to the wrong lab.
  assert.equal(upAgain({ source: resolveTopologyPath("star") }), "vlab up star");
  assert.equal(upAgain({ source: "/tmp/lossy.yaml" }), "vlab up /tmp/lossy.yaml");
  assert.equal(upAgain({ source: "/tmp/my lab's.yaml" }), "vlab up '/tmp/my lab'\\''s.yaml'");
});

Deno.test("startAgain: a topology file's vlab up, a drill's own topology's drill run, a script's startLab", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-client-" });
  try {
    // A drill that holds its topology is its lab's source; `vlab up` refuses a drill file.
    const drill = `${dir}/flap.yaml`;
    Deno.writeTextFileSync(
      drill,
      "topology: { name: flap, vms: { a: {} } }\ntimeline:\n  - { at: 0s, do: heal }\n",
    );
    assert.equal(startAgain({ source: drill }), `\`vlab drill run ${drill}\``);
    assert.equal(startAgain({ source: resolveTopologyPath("star") }), "`vlab up star`");
    assert.equal(startAgain({ source: `${dir}/gone.yaml` }), `\`vlab up ${dir}/gone.yaml\``);
    assert.equal(startAgain({ source: "<object>" }), "startLab() in its script");
    // A drill piped into `vlab drill run -` with its topology inline (it said "startLab()").
    assert.equal(
      startAgain({ source: "<stdin>" }),
      "`vlab drill run -`, the drill piped in again",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startAgain knows a drill edited since its lab started by its keys, whatever its YAML problems", async () => {
  // A duplicate key, an alias to nothing or an unknown tag made the drill "no YAML", and the hint
  // said `vlab up FILE`, which refuses a drill file.
  const dir = await Deno.makeTempDir({ prefix: "vlab-client-" });
  try {
    const drills = {
      "dup.yaml": "topology: pair\ntimeline:\n  - wait: 1ms\ntimeline: []\n",
      "alias.yaml": "topology: pair\ntimeline:\n  - wait: *gone\n",
      "tag.yaml": "topology: pair\ntimeline:\n  - wait: 1ms\nassert:\n  - !p.received\n",
    };
    for (const [name, text] of Object.entries(drills)) {
      Deno.writeTextFileSync(`${dir}/${name}`, text);
      assert.equal(startAgain({ source: `${dir}/${name}` }), `\`vlab drill run ${dir}/${name}\``);
    }
    // A topology with a duplicate key is still started again by `vlab up`.
    Deno.writeTextFileSync(`${dir}/topo.yaml`, "name: x\nname: y\nvms: { a: {} }\n");
    assert.equal(startAgain({ source: `${dir}/topo.yaml` }), `\`vlab up ${dir}/topo.yaml\``);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("upAgain gives a path that starts with - as ./-…, which no command takes for an option", () => {
  // `vlab up -- --dry-run` hinted `vlab validate --dry-run`, an unknown option of validate.
  assert.equal(upAgain({ source: "--dry-run" }), "vlab up ./--dry-run");
  assert.equal(upAgain({ source: "-my lab.yaml" }), "vlab up './-my lab.yaml'");
});
