import assert from "node:assert/strict";
import { MAX_CONNECT_LINE, parseConnectLine } from "./vsock_host.ts";

Deno.test("a CONNECT line is two words, `connect` in any case and a u32 (Firecracker's muxer)", () => {
  assert.equal(parseConnectLine("CONNECT 52"), 52);
  assert.equal(parseConnectLine("connect 52"), 52);
  assert.equal(parseConnectLine("Connect\t4294967294 "), 0xfffffffe);
  assert.equal(parseConnectLine("CONNECT 4294967295"), null, "VMADDR_PORT_ANY is no port");
  assert.equal(parseConnectLine("CONNECT 4294967296"), null);
  assert.equal(parseConnectLine("CONNECT"), null);
  assert.equal(parseConnectLine("CONNECT 5 6"), null);
  assert.equal(parseConnectLine("CONNECT -5"), null);
  assert.equal(parseConnectLine("CONNECT 0x10"), null);
  assert.equal(parseConnectLine("LISTEN 52"), null);
  assert.equal(parseConnectLine(""), null);
  assert.ok("CONNECT 4294967295\n".length <= MAX_CONNECT_LINE);
});
