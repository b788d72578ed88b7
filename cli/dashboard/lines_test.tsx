import assert from "node:assert/strict";
import { render } from "ink-testing-library";
import { Lines, seg } from "./lines.tsx";
import { fixtureData, renderApp } from "./testing.tsx";

Deno.test("a blank line keeps its row: the lines below it stay where they were", () => {
  // An empty line took no row in ink's layout: "a", "", "b" drew as "a", "b", "".
  const r = render(
    <Lines lines={[[seg("a")], [], [seg("")], [seg("b")]]} width={10} height={5} colors={false} />,
  );
  assert.deepEqual((r.lastFrame() ?? "").split("\n").map((l) => l.trimEnd()), [
    "a",
    "",
    "",
    "b",
    "",
  ]);
  r.unmount();
});

Deno.test("the help keeps the blank line between its keys and its panels", async () => {
  const app = renderApp(fixtureData("pair"), { columns: 80, rows: 30 });
  app.stdin.write("?");
  const end = Date.now() + 2000;
  while (!app.frame().includes("Panels") && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const lines = app.frame().split("\n").map((l) => l.trimEnd());
  const panels = lines.indexOf("Panels");
  assert.ok(panels > 0, app.frame());
  assert.equal(lines[panels - 1], "", app.frame());
  assert.match(lines[panels - 2], /q, ctrl-c/, app.frame());
  app.unmount();
});
