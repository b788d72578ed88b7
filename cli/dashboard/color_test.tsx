import assert from "node:assert/strict";

// Colors are decided when ink's color library loads, from the environment: force them on before
// loading ink, so that this test can tell "no colors" apart from "a terminal without colors".
Deno.env.set("FORCE_COLOR", "1");
const { fixtureData, loadFixture, renderApp, waitFor } = await import("./testing.tsx");
Deno.env.delete("FORCE_COLOR");

/** SGR color parameters: 30-39, 40-49, 90-97, 100-107 (38/48 start 256-color and RGB codes). */
const COLOR_SGR = new RegExp(
  String.fromCharCode(27) + String.raw`\[(?:\d+;)*(?:3\d|4\d|9[0-7]|10[0-7])(?:;\d+)*m`,
);

async function everyPanel(colors: boolean): Promise<string[]> {
  const frames: string[] = [];
  for (const lab of ["pair", "star"] as const) {
    const ring = loadFixture(lab === "pair" ? "ring_split" : "ring_packed");
    const app = renderApp(fixtureData(lab, ring as never), { colors, columns: 140, rows: 40 });
    frames.push(app.frame());
    for (const key of ["2", "3", "4", "?"]) {
      const before = app.frame();
      app.stdin.write(key);
      await waitFor(() => app.frame() !== before, `the panel after "${key}"`);
      frames.push(app.frame());
    }
    app.stdin.write("?");
    app.stdin.write("2");
    app.stdin.write("\x1b[B");
    if (lab === "star") app.stdin.write("\x1b[B");
    app.stdin.write("\r");
    await waitFor(() => app.frame().includes("entries"), "the ring view");
    frames.push(app.frame());
    app.unmount();
  }
  return frames;
}

Deno.test("with colors on, the dashboard uses ANSI colors", async () => {
  const frames = await everyPanel(true);
  assert.ok(frames.some((f) => COLOR_SGR.test(f)), "no color code in any frame");
});

Deno.test("with NO_COLOR (colors off) no frame has an ANSI color code", async () => {
  const frames = await everyPanel(false);
  for (const f of frames) assert.doesNotMatch(f, COLOR_SGR);
});
