/**
 * A switch's MAC table (`Lab.macTable`, `GET /switches[/NAME]`, `vlab fdb`): the stations it
 * learned, each on the port it was last seen on, named by the link and by what sits behind it.
 */

import assert from "node:assert/strict";
import { serveControl } from "./server.ts";
import { switchMacTable, unknownSwitchProblem } from "./switch_macs.ts";
import { LAB_TEST, startTestLab } from "./testing.ts";

const SW = {
  name: "s1",
  thread: 0,
  portsMax: 2,
  ports: [{ link: "h1-s1", rxRing: 0, txRing: 1 }, { link: "s1-s2", rxRing: 2, txRing: 3 }],
};
const LINKS = {
  links: [
    {
      name: "h1-s1",
      endpoints: ["h1:eth0", "s1"] as [string, string],
      forwardRing: 0,
      reverseRing: 1,
    },
    { name: "s1-s2", endpoints: ["s1", "s2"] as [string, string], forwardRing: 3, reverseRing: 2 },
  ],
};

Deno.test("a switch's rows are named by their port's link and the NIC or switch at its far end", () => {
  const t = switchMacTable(LINKS, SW, {
    agingMs: 300_000,
    macs: [
      { mac: "02:00:00:00:00:01", port: 0, ageMs: 12 },
      { mac: "02:00:00:00:00:03", port: 1, ageMs: 3 },
    ],
  });
  assert.deepEqual(t, {
    switch: "s1",
    agingMs: 300_000,
    macs: [
      { mac: "02:00:00:00:00:01", port: 0, link: "h1-s1", peer: "h1:eth0", ageMs: 12 },
      { mac: "02:00:00:00:00:03", port: 1, link: "s1-s2", peer: "s2", ageMs: 3 },
    ],
  });
  // Not a switch's answer (a worker that keeps no table): no table, not a crash.
  assert.equal(switchMacTable(LINKS, SW, null), null);
  assert.equal(switchMacTable(LINKS, SW, { macs: "none" }), null);
});

Deno.test({
  name:
    "a running switch's MAC table holds the stations that sent through it, also over the socket",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "fdb",
      seed: 3,
      vms: {
        h1: { nics: { eth0: { ip: "10.0.0.1/24" } } },
        h2: { nics: { eth0: { ip: "10.0.0.2/24" } } },
        h3: { nics: { eth0: { ip: "10.0.0.3/24" } } },
      },
      switches: { sw1: {}, sw2: {} },
      links: [
        { endpoints: ["sw1", "sw2"] },
        { endpoints: ["h1", "sw1"] },
        { endpoints: ["h2", "sw1"] },
        { endpoints: ["h3", "sw2"] },
      ],
    });
    const dir = await Deno.makeTempDir({ prefix: "vlab-fdb-test-" });
    const path = `${dir}/control.sock`;
    const server = serveControl(lab, { path, onDown: () => {} });
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
    const get = async (p: string) => {
      const res = await fetch(`http://vlab${p}`, { client });
      return { status: res.status, body: await res.json() };
    };
    try {
      // Nothing sent yet: nothing learned.
      assert.deepEqual((await lab.macTable("sw1"))?.macs, []);
      const r = await lab.exec("h1", ["ping", "10.0.0.3", "-c", "2", "-i", "0.05"]);
      if (!r.ok) assert.fail(r.message);
      const macOf = (vm: string) => lab.plan.vms.find((v) => v.name === vm)!.nics[0].mac;
      const [m1, m3] = [macOf("h1"), macOf("h3")];
      const sw1 = await lab.macTable("sw1");
      const rows = new Map(sw1?.macs.map((m) => [m.mac, m]));
      assert.equal(rows.get(m1)?.peer, "h1:eth0", JSON.stringify(sw1));
      assert.equal(rows.get(m1)?.link, "h1-sw1");
      assert.equal(rows.get(m3)?.peer, "sw2", "h3 is behind the trunk");
      assert.equal(rows.get(m3)?.link, "sw1-sw2");
      assert.ok(sw1!.macs.every((m) => m.ageMs >= 0 && m.ageMs < 60_000), JSON.stringify(sw1));
      assert.equal(sw1!.agingMs, 300_000);
      // h2 sent nothing yet (its ARP answer went nowhere): sw1 has not learned it.
      assert.equal(sw1!.macs.length, 2, JSON.stringify(sw1));

      const one = await get("/switches/sw2");
      assert.equal(one.status, 200);
      const sw2 = new Map(
        (one.body.macs as { mac: string; peer: string }[]).map((m) => [m.mac, m]),
      );
      assert.equal(sw2.get(m1)?.peer, "sw1");
      assert.equal(sw2.get(m3)?.peer, "h3:eth0");
      const all = await get("/switches");
      assert.deepEqual(all.body.map((t: { switch: string }) => t.switch), ["sw1", "sw2"]);
      const unknown = await get("/switches/h1");
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error.code, "unknown-switch");
      assert.equal(unknown.body.error.hint, "Switches: sw1, sw2");
      assert.equal(await lab.macTable("h1"), null);
    } finally {
      client.close();
      await server.shutdown();
      await lab.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a vsock router's name asked as a switch's says it is a router that keeps no MAC table", () => {
  // It said "The lab has no switch "r1"" of a router the lab has.
  const router = { name: "r1", thread: 1, portsMax: 2, ports: [], vsockCids: [3, 4] };
  const sw = { name: "sw1", thread: 0, portsMax: 1, ports: [] };
  assert.deepEqual(unknownSwitchProblem({ switches: [router] }, "r1"), {
    code: "unknown-switch",
    message: '"r1" is a vsock router: it keeps no MAC table (it routes by CID)',
    hint: "`vlab status` shows its counters; this lab has no switch",
  });
  assert.equal(
    unknownSwitchProblem({ switches: [sw, router] }, "r1")?.hint,
    "`vlab status` shows its counters; switches: sw1",
  );
  assert.equal(
    unknownSwitchProblem({ switches: [sw, router] }, "zz")?.message,
    'The lab has no switch "zz"',
  );
  assert.equal(unknownSwitchProblem({ switches: [sw, router] }, "sw1"), null);
});
