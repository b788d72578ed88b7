/**
 * Two backend crashes asked back to back of one device worker, in a real lab: the second used to
 * be answered "injected" and never happen (it reached a worker that the first one ended).
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, waitForValue } from "./testing.ts";

const PAIR = {
  name: "exit-twice",
  seed: 1,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

Deno.test({
  name:
    "a backend crash asked while an exit's restart has not begun is refused, and every crash taken comes",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      const crashes = () => lab.events.recent().filter((e) => e.kind === "backend-crash").length;
      assert.ok((await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" })).ok);
      const again = await lab.fault({ kind: "backend-crash", vm: "a", mode: "hang", ms: 500 });
      if (again.ok) {
        // Taken only if the first exit's restart had begun: then it comes too.
        assert.equal(crashes(), 1, "taken before the supervisor answered the exit");
      } else {
        assert.equal(again.code, "backend-crash-armed");
        assert.match(again.message, /an injected exit/);
      }
      const ready = () =>
        lab.events.recent().filter((e) => e.kind === "backend-ready" && e.subject === "a").length;
      await waitForValue("a's restart", () => (ready() >= 1 ? true : null));
      assert.ok((await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" })).ok);
      await waitForValue("a's second restart", () => (ready() >= (again.ok ? 3 : 2) ? true : null));
      assert.equal(crashes(), again.ok ? 3 : 2, "every crash answered 'injected' came");
      const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05", "-W", "2"]);
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal((r.result as { received: number }).received, 2);
    } finally {
      await lab.stop();
    }
  },
});
