/**
 * The control server's query strings: a parameter a route does not take, or one given twice, is
 * a 400 `bad-request`, as a body's unknown or repeated key is; never ignored, never read as
 * its first value.
 */

import assert from "node:assert/strict";
import { withServer } from "./server_testing.ts";

Deno.test({
  name: "a query parameter a route does not take, or one given twice, is a 400, never ignored",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const refused: [string, RegExp, RegExp][] = [
        // Twice: the capture would have been of the first link alone, and said nothing.
        [
          "/capture?link=a-b&link=c-d",
          /^GET \/capture takes the parameter "link" once, got it 2 times$/,
          /Give it once/,
        ],
        [
          "/capture?link=a-b&lnik=c-d",
          /^GET \/capture takes the parameter link, not "lnik"$/,
          /"link"/,
        ],
        [
          "/ring?vm=a&nic=eth0&queue=1&queue=0",
          /^GET \/ring takes the parameter "queue" once, got it 2 times$/,
          /Give it once/,
        ],
        ["/events?limit=5", /^GET \/events takes no query parameters, got "limit"$/, /without/],
        ["/lab?x=1", /^GET \/lab takes no query parameters, got "x"$/, /without/],
        ["/vms/a?verbose", /^GET \/vms\/NAME takes no query parameters, got "verbose"$/, /without/],
      ];
      // A bounded wait: a capture started anyway would stream until the test's end.
      const bounded = () => ({ signal: AbortSignal.timeout(5000) });
      for (const [path, message, hint] of refused) {
        const r = await env.call(path, bounded());
        assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, "bad-request", path);
        assert.match(r.body.error.message, message, path);
        assert.match(r.body.error.hint, hint, path);
      }
      // HEAD is refused the same way (status and headers, no body), and starts no capture.
      const head = await env.call("/capture?link=a-b&link=a-b", { method: "HEAD", ...bounded() });
      assert.equal(head.status, 400);
      assert.equal(head.headers.get("vlab-capture-id"), null);
      // The queries each route takes are served as before; an empty query is no parameter.
      for (const path of ["/lab?", "/metrics", "/ring?vm=a&nic=eth0&queue=1"]) {
        assert.equal((await env.call(path)).status, 200, path);
      }
      // A wrong method is still a 405 first, whatever its query.
      assert.equal((await env.call("/lab?x=1", { method: "POST" })).status, 405);
    }),
});
