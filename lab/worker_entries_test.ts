import assert from "node:assert/strict";
import {
  bundleCacheDir,
  findWorkerEntries,
  releaseBundleSets,
  sourceEntries,
  sourceKey,
} from "./worker_entries.ts";

/** A project root of its own: four tiny worker entries that post who they are. */
function fakeRoot(guestSays: string): string {
  const root = Deno.makeTempDirSync({ prefix: "vlab-entries-" });
  Deno.mkdirSync(`${root}/lab/guest`, { recursive: true });
  Deno.mkdirSync(`${root}/lab/host`, { recursive: true });
  Deno.mkdirSync(`${root}/devices`);
  Deno.writeTextFileSync(`${root}/deno.json`, "{}\n");
  Deno.writeTextFileSync(
    `${root}/devices/said.ts`,
    `export const said: string = "${guestSays}";\n`,
  );
  Deno.writeTextFileSync(
    `${root}/lab/guest/worker.ts`,
    [
      `import { said } from "../../devices/said.ts";`,
      `const where: string = new Error("here").stack ?? "";`,
      `(self as unknown as Worker).postMessage({ said, where });`,
      "",
    ].join("\n"),
  );
  for (const name of ["device_worker", "switch_worker", "vsock_router_worker"]) {
    Deno.writeTextFileSync(
      `${root}/lab/host/${name}.ts`,
      `(self as unknown as Worker).postMessage({ said: "${name}" });\n`,
    );
  }
  return root;
}

function rootUrl(root: string): URL {
  return new URL(`file://${root}/`);
}

function firstMessage(url: URL): Promise<{ said: string; where?: string }> {
  const w = new Worker(url, { type: "module" });
  return new Promise((resolve, reject) => {
    w.onmessage = (e) => {
      w.terminate();
      resolve(e.data);
    };
    w.onerror = (e) => {
      e.preventDefault();
      w.terminate();
      reject(new Error(e.message));
    };
  });
}

function withEnv<T>(name: string, value: string | undefined, f: () => Promise<T>): Promise<T> {
  const saved = Deno.env.get(name);
  if (value === undefined) Deno.env.delete(name);
  else Deno.env.set(name, value);
  return f().finally(() => {
    if (saved === undefined) Deno.env.delete(name);
    else Deno.env.set(name, saved);
  });
}

Deno.test("workers run from a bundle that is built once, reused, and rebuilt after an edit", () =>
  withEnv("VLAB_BUNDLE", undefined, async () => {
    const root = fakeRoot("one");
    const cacheDir = Deno.makeTempDirSync({ prefix: "vlab-cache-" });
    try {
      const first = await findWorkerEntries({ root: rootUrl(root), cacheDir });
      assert.equal(first.reason, undefined);
      assert.equal(first.bundled, true);
      assert.ok(first.urls.guest.pathname.startsWith(`${cacheDir}/workers/`));
      assert.ok(first.urls.guest.pathname.endsWith("/guest/worker.js"));
      const guest = await firstMessage(first.urls.guest);
      assert.equal(guest.said, "one");
      // A stack trace from the bundle names the TypeScript source (linked source map).
      assert.match(guest.where ?? "", /\/lab\/guest\/worker\.ts:2:/);
      assert.equal((await firstMessage(first.urls.vsockRouter)).said, "vsock_router_worker");

      const built = Deno.statSync(first.urls.guest).mtime?.getTime();
      const again = await findWorkerEntries({ root: rootUrl(root), cacheDir });
      assert.equal(again.urls.guest.href, first.urls.guest.href);
      assert.equal(Deno.statSync(again.urls.guest).mtime?.getTime(), built, "rebuilt for nothing");

      // An edit anywhere under devices/ or lab/ is a new key: the old bundle is never run.
      Deno.writeTextFileSync(`${root}/devices/said.ts`, `export const said: string = "two";\n`);
      const edited = await findWorkerEntries({ root: rootUrl(root), cacheDir });
      assert.notEqual(edited.urls.guest.href, first.urls.guest.href);
      assert.equal((await firstMessage(edited.urls.guest)).said, "two");
    } finally {
      releaseBundleSets();
      Deno.removeSync(root, { recursive: true });
      Deno.removeSync(cacheDir, { recursive: true });
    }
  }));

Deno.test("a source key covers contents, not only names, and ignores tests", async () => {
  const root = fakeRoot("one");
  try {
    const k1 = await sourceKey(root);
    assert.match(k1, /^[0-9a-f]{32}$/);
    Deno.writeTextFileSync(`${root}/lab/guest/worker_test.ts`, "// a test\n");
    assert.equal(await sourceKey(root), k1);
    Deno.writeTextFileSync(`${root}/deno.json`, `{ "compilerOptions": {} }\n`);
    const k2 = await sourceKey(root);
    assert.notEqual(k2, k1);
    Deno.writeTextFileSync(`${root}/lab/host/switch_worker.ts`, "// changed\n");
    const k3 = await sourceKey(root);
    assert.notEqual(k3, k2);
    Deno.writeTextFileSync(`${root}/deno.lock`, `{ "version": "5" }\n`);
    assert.notEqual(await sourceKey(root), k3);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a bundle that cannot be built leaves the lab on its sources, saying why", () =>
  withEnv("VLAB_BUNDLE", undefined, async () => {
    const root = fakeRoot("one");
    const cacheDir = Deno.makeTempDirSync({ prefix: "vlab-cache-" });
    try {
      Deno.writeTextFileSync(`${root}/lab/host/device_worker.ts`, "export const = ;\n");
      const broken = await findWorkerEntries({ root: rootUrl(root), cacheDir });
      assert.equal(broken.bundled, false);
      // One plain line naming the error (no colour codes, whatever the terminal).
      assert.match(broken.reason ?? "", /^deno bundle failed: error: SyntaxError/);
      const reason = broken.reason ?? "";
      assert.ok(!reason.includes("\n") && !reason.includes("\u001b"), JSON.stringify(reason));
      assert.deepEqual(broken.urls, sourceEntries(rootUrl(root)));
      // Nothing half-built is left to be picked up later.
      assert.deepEqual([...Deno.readDirSync(`${cacheDir}/workers`)], []);

      const noDeno = await findWorkerEntries({ root: rootUrl(root), cacheDir, deno: "/bin/false" });
      assert.equal(noDeno.bundled, false);
      assert.match(noDeno.reason ?? "", /^deno bundle failed \(exit 1\)/);

      // A bundler that hangs (esbuild's first fetch on a dead network) is given up on in time.
      const hang = `${root}/hang.sh`;
      Deno.writeTextFileSync(hang, "#!/bin/sh\nexec sleep 30\n");
      Deno.chmodSync(hang, 0o755);
      const t0 = performance.now();
      const hung = await findWorkerEntries({
        root: rootUrl(root),
        cacheDir,
        deno: hang,
        timeoutMs: 300,
      });
      assert.equal(hung.bundled, false);
      assert.equal(hung.reason, "deno bundle took longer than 300 ms");
      assert.ok(performance.now() - t0 < 10_000, "waited for the hung bundler");
    } finally {
      releaseBundleSets();
      Deno.removeSync(root, { recursive: true });
      Deno.removeSync(cacheDir, { recursive: true });
    }
  }));

Deno.test({
  name: "a bundle cache under /proc runs the sources, saying why in vlab's words",
  // The vlab task's flags: Deno refuses /proc without --allow-all (-A reads it).
  ignore: (() => {
    try {
      Deno.statSync("/proc/self");
      return true;
    } catch (e) {
      return !(e instanceof Deno.errors.NotCapable);
    }
  })(),
  fn: () =>
    withEnv("VLAB_BUNDLE", undefined, async () => {
      const root = fakeRoot("one");
      try {
        const e = await findWorkerEntries({ root: rootUrl(root), cacheDir: "/proc/x" });
        assert.equal(e.bundled, false);
        // It said: Requires all access to "/proc/x/workers", run again with the --allow-all flag.
        assert.equal(
          e.reason,
          "vlab may not open files under /dev, /proc or /sys (Deno asks for --allow-all): /proc/x",
        );
      } finally {
        Deno.removeSync(root, { recursive: true });
      }
    }),
});

Deno.test("VLAB_BUNDLE=0 runs the sources, with no reason to report", () =>
  withEnv("VLAB_BUNDLE", "0", async () => {
    const e = await findWorkerEntries({ cacheDir: "/nonexistent/vlab" });
    assert.equal(e.bundled, false);
    assert.equal(e.reason, undefined);
    assert.ok(e.urls.device.pathname.endsWith("/lab/host/device_worker.ts"));
  }));

Deno.test("VLAB_BUNDLE=' 0 ' runs the sources, as the start's check of it reads it", () =>
  withEnv("VLAB_BUNDLE", " 0 ", async () => {
    // envKnobError took " 0 " as 0; the reader compared it with "0" and bundled the workers.
    const e = await findWorkerEntries({ cacheDir: "/nonexistent/vlab" });
    assert.equal(e.bundled, false);
    assert.equal(e.reason, undefined);
  }));

Deno.test("a blank VLAB_CACHE_DIR is unset; a relative one is from the current folder", () =>
  withEnv("XDG_CACHE_HOME", "/tmp/xdg-cache", () =>
    withEnv("VLAB_CACHE_DIR", " ", async () => {
      // It built the bundles in a folder named " " in the current folder.
      assert.equal(bundleCacheDir(), "/tmp/xdg-cache/vlab");
      Deno.env.set("VLAB_CACHE_DIR", "rel/cache/");
      assert.equal(bundleCacheDir(), `${Deno.cwd()}/rel/cache`);
      // The XDG spec has a relative XDG_CACHE_HOME ignored.
      Deno.env.delete("VLAB_CACHE_DIR");
      Deno.env.set("XDG_CACHE_HOME", "rel");
      await withEnv("HOME", "/home/someone", () => {
        assert.equal(bundleCacheDir(), "/home/someone/.cache/vlab");
        return Promise.resolve();
      });
    })));

Deno.test("a damaged bundle set is rebuilt; old sets are pruned, not one a running lab uses", () =>
  withEnv("VLAB_BUNDLE", undefined, async () => {
    const root = fakeRoot("one");
    const cacheDir = Deno.makeTempDirSync({ prefix: "vlab-cache-" });
    try {
      const first = await findWorkerEntries({ root: rootUrl(root), cacheDir });
      const dir = first.urls.guest.pathname.replace(/\/guest\/worker\.js$/, "");
      Deno.removeSync(`${dir}/complete.json`);
      Deno.writeTextFileSync(first.urls.guest, "throw new Error('damaged');\n");
      const old = new Date(Date.now() - 2 * 86_400_000);
      for (let i = 0; i < 6; i++) Deno.mkdirSync(`${cacheDir}/workers/old${i}`);
      // The oldest but one is in use by a running lab (its shared lock on the set's lock file).
      const user = Deno.openSync(`${cacheDir}/workers/old1/in-use.lock`, {
        read: true,
        write: true,
        create: true,
      });
      user.lockSync(false);
      for (let i = 0; i < 6; i++) {
        Deno.utimeSync(`${cacheDir}/workers/old${i}`, old, new Date(old.getTime() + i * 1000));
      }
      Deno.mkdirSync(`${cacheDir}/workers/.tmp-dead`);
      Deno.utimeSync(`${cacheDir}/workers/.tmp-dead`, old, old);
      Deno.mkdirSync(`${cacheDir}/workers/.tmp-building`);

      releaseBundleSets(); // as if the first lab's process had ended
      const rebuilt = await findWorkerEntries({ root: rootUrl(root), cacheDir });
      user.close();
      assert.equal(rebuilt.bundled, true);
      assert.equal(rebuilt.urls.guest.href, first.urls.guest.href);
      assert.equal((await firstMessage(rebuilt.urls.guest)).said, "one");
      const left = [...Deno.readDirSync(`${cacheDir}/workers`)].map((e) => e.name).sort();
      // The newest four old sets, one a running lab uses, another process's build in progress,
      // and ours.
      const ours = dir.split("/").at(-1)!;
      assert.deepEqual(
        left,
        [".tmp-building", ours, "old1", "old2", "old3", "old4", "old5"].sort(),
      );
    } finally {
      releaseBundleSets();
      Deno.removeSync(root, { recursive: true });
      Deno.removeSync(cacheDir, { recursive: true });
    }
  }));
