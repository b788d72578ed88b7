import assert from "node:assert/strict";
import { VsockOp } from "../../../devices/vsock/mod.ts";
import { HostVsock, MAX_CONNECT_LINE, parseConnectLine } from "./vsock_host.ts";
import { watchSocketModes } from "../unix_socket_testing.ts";

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

Deno.test("a host client refused at the connection limit is counted, not dropped unseen", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/vsock.sock`;
  // The guest never answers: the first CONNECT holds the only slot.
  const host = new HostVsock({
    path,
    guestCid: 3,
    deliver: () => "queued" as const,
    wake: () => {},
    now: () => performance.now(),
    maxConnections: 1,
  });
  const clients: Deno.UnixConn[] = [];
  try {
    const connect = async () => {
      const c = await Deno.connect({ transport: "unix", path });
      clients.push(c);
      await c.write(new TextEncoder().encode("CONNECT 5000\n"));
      return c;
    };
    await connect();
    for (let i = 0; i < 200 && host.sockets.size < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(host.sockets.size, 1);
    assert.equal(host.refusedConnections, 0);
    const second = await connect();
    // Refused: its socket is closed with no OK, and the refusal is counted.
    const n = await second.read(new Uint8Array(16));
    assert.equal(n, null);
    for (let i = 0; i < 200 && host.refusedConnections < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(host.refusedConnections, 1);
  } finally {
    for (const c of clients) {
      try {
        c.close();
      } catch {
        // Closed by the host.
      }
    }
    host.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a host end that closes after its successor listens leaves the successor's vsock.sock", async () => {
  // A backend restart starts the successor before the old device worker ends (a reboot ends it
  // while its successor starts): Deno unlinks a Unix listener's path when it closes, and the old
  // worker's end removed the successor's file (host clients got ENOENT).
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/vsock.sock`;
  const options = {
    path,
    guestCid: 3,
    deliver: () => "queued" as const,
    wake: () => {},
    now: () => performance.now(),
  };
  const old = new HostVsock(options);
  let next: HostVsock | null = null;
  try {
    next = new HostVsock(options);
    old.close();
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    assert.equal(Deno.lstatSync(path).mode! & 0o777, 0o600);
    // Nothing else left in the folder (the temporary name the listener was bound under).
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["vsock.sock"]);
    next.close();
    assert.deepEqual([...Deno.readDirSync(dir)], [], "its own file is removed on close");
  } finally {
    old.close();
    next?.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a host end's socket is never reachable by another user while it is put at vsock.sock", async () => {
  // Bound under a temporary name beside vsock.sock and then made 0600, it took the umask's mode
  // for a moment (0777 under umask 0), in a folder other users may search.
  const dir = Deno.makeTempDirSync();
  Deno.chmodSync(dir, 0o755);
  const path = `${dir}/vsock.sock`;
  const options = {
    path,
    guestCid: 3,
    deliver: () => "queued" as const,
    wake: () => {},
    now: () => performance.now(),
  };
  const hosts: HostVsock[] = [];
  try {
    // The first end, then its successor over it (a backend restart).
    const { exposures } = await watchSocketModes([path], () => {
      hosts.push(new HostVsock(options));
      hosts.push(new HostVsock(options));
    });
    assert.deepEqual(exposures, []);
    assert.equal(Deno.lstatSync(path).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["vsock.sock"]);
  } finally {
    for (const h of hosts) h.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a host CONNECT whose REQUEST finds the device not live is refused at once, not left waiting", async () => {
  // Before, the host end took the device's "not-live" for delivered: the REQUEST vanished and the
  // client waited, with no OK, for a guest that never heard of it (its timeout runs only while
  // the device is live).
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/vsock.sock`;
  const offered: number[] = [];
  const host = new HostVsock({
    path,
    guestCid: 3,
    deliver: (h) => (offered.push(h.op), "not-live"),
    wake: () => {},
    now: () => performance.now(),
  });
  const client = await Deno.connect({ transport: "unix", path });
  try {
    await client.write(new TextEncoder().encode("CONNECT 5000\n"));
    // Refused: the socket closes with no OK (bounded: the old code never closed it).
    const read = client.read(new Uint8Array(16));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"waiting">((r) => timer = setTimeout(() => r("waiting"), 2000));
    const n = await Promise.race([read, late]);
    clearTimeout(timer);
    assert.equal(n, null, "the client's socket was closed with no OK");
    assert.deepEqual(offered, [VsockOp.REQUEST], "one REQUEST offered, no RST answered to the RST");
    assert.equal(host.sockets.size, 0);
  } finally {
    try {
      client.close();
    } catch {
      // Closed by the host.
    }
    host.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
