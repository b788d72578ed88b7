/**
 * `POST /down` takes no body (or `{}`): a body with a key, such as `{"lab": "star"}` sent to the
 * wrong lab's socket, is a 400 that stops nothing, as every route refuses a key it does not take.
 */

import assert from "node:assert/strict";
import { withServer } from "./server_testing.ts";

Deno.test({
  name: "POST /down with a key or a non-object body is a 400 and stops nothing; none or {} stops",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const post = (body?: string) => env.call("/down", { method: "POST", body });
      const refused: [string, RegExp][] = [
        ['{"lab": "star"}', /^POST \/down takes no key "lab"$/],
        ['{"force": true}', /^POST \/down takes no key "force"$/],
        ["[]", /^POST \/down takes no body, got one that is not \{\}$/],
        ["star", /^POST \/down takes no body, got one that is not \{\}$/],
      ];
      for (const [body, message] of refused) {
        const r = await post(body);
        assert.equal(r.status, 400, `${body}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, "bad-request");
        assert.match(r.body.error.message, message);
        assert.match(r.body.error.hint, /without a body \(or \{\}\)/);
      }
      assert.equal(env.downs(), 0, "a refused POST /down asked the lab down");
      for (const body of [undefined, "", "{}", " {} \n"]) {
        const r = await post(body);
        assert.equal(r.status, 202, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      }
      // The server asks the lab down on the next turn of its event loop.
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(env.downs(), 4);
    }),
});
