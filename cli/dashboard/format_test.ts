import assert from "node:assert/strict";
import {
  cell,
  cutToWidth,
  formatByteRate,
  formatBytes,
  formatClock,
  formatDuration,
  formatHex,
  formatRate,
  hitPercent,
  si,
  textWidth,
  truncate,
} from "./format.ts";

Deno.test("si shows counts under 1000 as they are and larger ones with one decimal", () => {
  assert.equal(si(0), "0");
  assert.equal(si(7), "7");
  assert.equal(si(2.5), "2.5");
  assert.equal(si(999), "999");
  assert.equal(si(1000), "1.0k");
  assert.equal(si(10_000), "10.0k");
  assert.equal(si(1_234_567), "1.2M");
  assert.equal(si(3.4e9), "3.4G");
});

Deno.test("si moves to the next unit instead of showing 1000.0", () => {
  assert.equal(si(999.96), "1.0k");
  assert.equal(si(999_960), "1.0M");
});

Deno.test("si shows negative and non-finite values as 0", () => {
  assert.equal(si(-5), "0");
  assert.equal(si(Number.NaN), "0");
  assert.equal(si(Number.POSITIVE_INFINITY), "0");
});

Deno.test("rates and byte rates carry their unit", () => {
  assert.equal(formatRate(1000 / 0.1), "10.0k/s");
  assert.equal(formatRate(0), "0/s");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1_500_000), "1.5 MB");
  assert.equal(formatByteRate(15_140_000), "15.1 MB/s");
  assert.equal(formatByteRate(66_000), "66.0 kB/s");
});

Deno.test("durations use at most two units", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(42.9), "42s");
  assert.equal(formatDuration(185.4), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(2 * 86400 + 3 * 3600), "2d03h");
});

Deno.test("addresses are hex with at least 8 digits", () => {
  assert.equal(formatHex(0x100000), "0x00100000");
  assert.equal(formatHex(0x1_0000_0000), "0x100000000");
  assert.equal(formatHex(0x1f, 4), "0x001f");
});

Deno.test("clock times are UTC with milliseconds", () => {
  assert.equal(formatClock("2025-11-25T13:16:02.123Z"), "13:16:02.123");
  assert.equal(formatClock("2025-11-25T14:16:02.123+01:00"), "13:16:02.123");
  assert.equal(formatClock("not a time"), "not a time");
});

Deno.test("wide characters take two columns, combining marks none, when cut and padded", () => {
  assert.equal(textWidth("日本語"), 6);
  assert.equal(textWidth("e\u0301"), 1, "e and a combining acute accent");
  assert.equal(textWidth("▁▂▃ ◀ avail…"), 12, "the dashboard's own symbols are narrow");
  assert.equal(truncate("日本語テキスト", 6), "日本…", "5 columns, not 6 characters");
  assert.equal(truncate("日本語", 6), "日本語");
  assert.equal(cutToWidth("日本", 3), "日", "a wide character that straddles the edge goes");
  assert.equal(cutToWidth("👍🏽ok", 2), "👍🏽", "an emoji and its modifier stay together");
  assert.equal(cell("日本語x", 6), "日本… ");
  assert.equal(textWidth(cell("日本語x", 6)), 6);
  assert.equal(cell("日本", 6, { align: "right" }), "  日本");
});

Deno.test("cells truncate with an ellipsis and pad to their width", () => {
  assert.equal(truncate("receiveq", 5), "rece…");
  assert.equal(truncate("rx", 5), "rx");
  assert.equal(truncate("abc", 0), "");
  assert.equal(cell("size", 6), "size  ");
  assert.equal(cell("256", 6, { align: "right" }), "   256");
  assert.equal(cell("transmitq", 6), "trans…");
});

Deno.test("hitPercent rounds down: 100.0 only when nothing missed, - with no lookup", () => {
  assert.equal(hitPercent(60_091, 9), "99.9");
  assert.equal(hitPercent(120_000, 0), "100.0");
  assert.equal(hitPercent(3162, 20_638), "13.2");
  assert.equal(hitPercent(0, 0), "-");
  assert.equal(hitPercent(0, 4), "0.0");
});
