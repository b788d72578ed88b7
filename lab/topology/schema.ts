/**
 * The zod schema of a topology file as written (snake_case keys, units in strings). It checks the
 * shape of the document, every key and every single value; checks across values (names that
 * refer to each other, subnets, loops) are in `checks.ts`. The same schema generates the JSON
 * Schema that editors use (`topologyJsonSchema` in `mod.ts`).
 *
 * Refinements report a zod `custom` issue whose `params` carry the lab's issue `code` and `hint`;
 * `structure.ts` turns zod issues into lab problems.
 *
 * @module
 */

import { z } from "zod";
import { DELAY_DISTRIBUTIONS } from "../host/impair_models.ts";
import {
  formatSize,
  parseDuration,
  parsePercent,
  parsePercentList,
  parseRate,
  parseSize,
  PERCENT_LIST_MAX_LENGTH,
  UNIT_PATTERNS,
  type UnitError,
} from "./units.ts";
import {
  IPV4_CIDR_PATTERN,
  notHostAddress,
  parseCidr,
  parseMac,
  UNICAST_MAC_PATTERN,
} from "./addresses.ts";
import { MAX_MEMORY_BYTES, PAGE_SIZE } from "../../devices/memory/memory.ts";
import { quote, showValue } from "../../devices/base/quote.ts";

/** Pattern of VM, switch, NIC and link names. */
export const NAME_PATTERN = "^[a-z][a-z0-9_-]{0,15}$";
/** Pattern of the lab name. */
export const LAB_NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,31}$";
/**
 * The folder of the state root that holds the event logs: no lab can have this name (its
 * folder would be that one), so `vlab validate` refuses it as `vlab up` does.
 */
export const LOGS_FOLDER = "logs";
/** NIC features by their YAML name. */
export const FEATURE_NAMES = ["event_idx", "indirect", "mrg_rxbuf", "in_order", "csum"] as const;
/**
 * Smallest and largest queue size the lab runs (split also needs a power of 2): the range of
 * `queue_size` in the schema, so an editor flags 1..7 too; the builder checks the power of 2.
 */
export const QUEUE_SIZE_RANGE = { min: 8, max: 32768 } as const;
/** Smallest and largest guest memory, bytes (the largest is what `GuestMemory` allows). */
export const MEMORY_RANGE = { min: 1024 ** 2, max: MAX_MEMORY_BYTES } as const;

type Ctx = z.core.$RefinementCtx<string | number>;

function addUnitIssue(ctx: Ctx, key: string, e: UnitError): void {
  if (e.kind === "bad-unit") {
    ctx.addIssue({
      code: "custom",
      message: `Cannot read ${key} ${quote(e.input)}: expected ${e.expected}`,
      params: { code: "bad-unit", hint: e.hint },
    });
  } else {
    ctx.addIssue({
      code: "custom",
      message: e.negative === true
        ? `${key} must not be negative, got ${showValue(e.input)}`
        : `${key} must be between ${e.range}, got ${showValue(e.input)}`,
      params: { code: "out-of-range", hint: `write a ${key} between ${e.range}` },
    });
  }
}

/**
 * A number YAML reads as infinite or NaN (`1e400`, `.inf`, `.nan`), which `z.number()` refuses as
 * no number at all: in a union with it, let through to the value's own check, which says it is
 * out of range (not of the wrong type). No JSON value is one (`not: {}` in a JSON Schema).
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { nonFiniteNumber } from "./schema.ts";
 * z.union([z.string(), z.number(), nonFiniteNumber]).safeParse(Infinity).success; // true
 * ```
 */
export const nonFiniteNumber: z.ZodType<number, number> = z.custom<number>((v) =>
  typeof v === "number" && !Number.isFinite(v)
).meta({ not: {} });

const stringOrNumber = () => z.union([z.string(), z.number(), nonFiniteNumber]);

/*
 * A value with a unit is a string or a number. In its JSON Schema, `pattern` (the spelling the
 * parser reads) applies to the string, and `minimum`, `maximum` and `multipleOf` to the number:
 * a duration or a rate as a bare number is 0, a percentage 0..100.
 */
const ZERO = { minimum: 0, maximum: 0 } as const;
const PERCENT_NUMBER = { minimum: 0, maximum: 100 } as const;

function duration(key: string, what: string) {
  return stringOrNumber().superRefine((v, ctx) => {
    const r = parseDuration(v);
    if (!r.ok) addUnitIssue(ctx, key, r.error);
  }).describe(`${what}. A duration: "10ms", "250us", "1s" or 0`)
    .meta({ examples: ["10ms", "1s", 0], pattern: UNIT_PATTERNS.duration, ...ZERO });
}

function percent(key: string, what: string) {
  return stringOrNumber().superRefine((v, ctx) => {
    const r = parsePercent(v);
    if (!r.ok) addUnitIssue(ctx, key, r.error);
  }).describe(`${what}. A percentage 0..100: "1%", "0.5%"`)
    .meta({ examples: ["1%", "0.5%"], pattern: UNIT_PATTERNS.percent, ...PERCENT_NUMBER });
}

function int(min: number, max: number, what: string) {
  return z.number().int().min(min).max(max).describe(what);
}

function percentList(key: string, count: number, what: string, example: string) {
  return stringOrNumber().superRefine((v, ctx) => {
    const r = parsePercentList(v, count);
    if (!r.ok) addUnitIssue(ctx, key, r.error);
  }).describe(what).meta({
    examples: [example],
    pattern: UNIT_PATTERNS.percentList(count),
    maxLength: PERCENT_LIST_MAX_LENGTH,
    ...PERCENT_NUMBER,
  });
}

/** Delay distributions (netem `distribution`), as the impairment stage knows them. */
export const DISTRIBUTION_NAMES = DELAY_DISTRIBUTIONS;

const impairmentShape = {
  delay: duration("delay", "Added one-way delay (netem delay); default 0").optional(),
  jitter: duration("jitter", "Random variation of the delay (netem jitter); default 0").optional(),
  delay_correlation: percent(
    "delay_correlation",
    "Correlation of successive jitter values; default 0%",
  )
    .optional(),
  distribution: z.enum(DISTRIBUTION_NAMES)
    .describe(
      "Shape of the jitter (netem distribution); needs jitter > 0 and delay > 0; default uniform",
    )
    .optional(),
  loss: percent("loss", "Frames dropped at random; default 0%").optional(),
  loss_correlation: percent(
    "loss_correlation",
    "Correlation of successive loss decisions; default 0%",
  )
    .optional(),
  loss_state: percentList(
    "loss_state",
    5,
    'netem 4-state loss model "p13 [p31 [p32 [p23 [p14]]]]", e.g. "1% 30% 5% 10% 0.1%" ' +
      "(instead of loss; a model wins over loss)",
    "1% 30% 5% 10% 0.1%",
  ).optional(),
  loss_gemodel: percentList(
    "loss_gemodel",
    4,
    'netem Gilbert-Elliott loss model "p [r [1-h [1-k]]]", e.g. "1% 10% 70% 0.1%" ' +
      "(instead of loss; a model wins over loss)",
    "1% 10% 70% 0.1%",
  ).optional(),
  corrupt: percent("corrupt", "Frames with one bit flipped; default 0%").optional(),
  corrupt_correlation: percent(
    "corrupt_correlation",
    "Correlation of corruption decisions; default 0%",
  )
    .optional(),
  duplicate: percent("duplicate", "Frames sent twice; default 0%").optional(),
  duplicate_correlation: percent(
    "duplicate_correlation",
    "Correlation of duplication decisions; default 0%",
  )
    .optional(),
  reorder: percent("reorder", "Frames sent at once instead of delayed; needs delay > 0; default 0%")
    .optional(),
  reorder_correlation: percent(
    "reorder_correlation",
    "Correlation of reorder decisions; default 0%",
  )
    .optional(),
  gap: int(1, 1_000_000, "Only every gap-th frame may be reordered (netem gap); default 1")
    .optional(),
  rate: stringOrNumber().superRefine((v, ctx) => {
    const r = parseRate(v);
    if (!r.ok) addUnitIssue(ctx, "rate", r.error);
  }).describe('Rate limit in bits per second: "512kbit", "100mbit", "1gbit"; default 0 (unlimited)')
    .meta({ examples: ["100mbit", "1gbit", 0], pattern: UNIT_PATTERNS.rate, ...ZERO }).optional(),
  overhead: int(
    -1024,
    1024,
    "Bytes added to each frame's length for the rate (netem packet overhead); default 0",
  ).optional(),
  limit: int(
    1,
    1_000_000,
    "Frames held in the delay queue at most (netem limit); default 1000; a vsock link's is 16 or more",
  )
    .optional(),
};

/** The impairment keys, as written in YAML and in `vlab link NAME set KEY=VALUE`. */
export const IMPAIRMENT_KEYS = Object.keys(impairmentShape) as (keyof typeof impairmentShape)[];

/** Impairment keys of a link, `forward`, `reverse` or `defaults.link`. */
export const impairmentSchema = z.strictObject(impairmentShape)
  .describe("Link impairments (netem vocabulary)");

const nicShape = {
  layout: z.enum(["split", "packed"]).describe("Virtqueue layout; default split").optional(),
  queue_size: int(
    QUEUE_SIZE_RANGE.min,
    QUEUE_SIZE_RANGE.max,
    "Queue size: split needs a power of 2, packed any; at least 8; default 256",
  )
    .optional(),
  features: z.array(z.enum(FEATURE_NAMES))
    .describe("Features the NIC offers; default [event_idx, mrg_rxbuf, csum]").optional(),
  mtu: int(68, 9000, "MTU in bytes, 68..9000; default 1500").optional(),
  tx_timeout: duration(
    "tx_timeout",
    "Guest transmit watchdog (Linux's ndo_tx_timeout): reset the device when sent frames stay unreturned this long; default 5s (0 means the default, as Linux's watchdog_timeo)",
  ).optional(),
};

const memory = stringOrNumber().superRefine((v, ctx) => {
  const r = parseSize(v);
  // A size too large to count is outside the memory range too: say that range, not every size's.
  if (!r.ok && r.error.kind === "bad-unit") return addUnitIssue(ctx, "memory", r.error);
  if (!r.ok || r.value < MEMORY_RANGE.min || r.value > MEMORY_RANGE.max) {
    ctx.addIssue({
      code: "custom",
      message: `memory must be between 1MiB and 2GiB, got ${showValue(v)}`,
      params: {
        code: "out-of-range",
        hint: 'write a memory between 1MiB and 2GiB, such as "16MiB"',
      },
    });
  } else if (r.value % PAGE_SIZE !== 0) {
    // GuestMemory takes whole pages only; both neighbours are inside the range (its ends are
    // whole pages).
    const below = r.value - (r.value % PAGE_SIZE);
    const above = below + PAGE_SIZE;
    ctx.addIssue({
      code: "custom",
      message: `memory must be a multiple of 4KiB, got ${showValue(v)}`,
      params: {
        code: "bad-memory-size",
        hint: `write ${formatSize(below)} or ${formatSize(above)} (${below} or ${above} bytes)`,
      },
    });
  }
}).describe('Guest memory: "16MiB", "1GiB" or bytes; 1MiB..2GiB; default 16MiB')
  .meta({
    examples: ["16MiB", "1GiB"],
    pattern: UNIT_PATTERNS.size,
    minimum: MEMORY_RANGE.min,
    maximum: MEMORY_RANGE.max,
    multipleOf: PAGE_SIZE,
  });

const vmShape = {
  memory: memory.optional(),
  poll_us: int(
    0,
    10_000,
    "vCPU busy-poll budget of its workers before they wait, µs; default 0 (polling pays only when every worker has a core of its own)",
  ).optional(),
};

const ip = z.string().superRefine((v, ctx) => {
  const r = parseCidr(v);
  if (!r.ok) {
    ctx.addIssue({
      code: "custom",
      message: `Cannot read ip ${quote(v)}: ${r.error.reason}`,
      params: {
        code: "bad-ip",
        hint: 'write an IPv4 address with a prefix length, e.g. "10.0.0.1/24"',
      },
    });
    return;
  }
  const why = notHostAddress(r.value.address);
  if (why !== null) {
    ctx.addIssue({
      code: "custom",
      message: `IP ${quote(v)} is ${why}, not a host address`,
      params: {
        code: "bad-address",
        hint: 'use a unicast host address, such as one from 10.0.0.0/8 ("10.0.0.1/24")',
      },
    });
  }
}).describe('IPv4 address with prefix length, e.g. "10.0.0.1/24"; none = L2 only')
  .meta({ pattern: IPV4_CIDR_PATTERN });

const mac = z.string().superRefine((v, ctx) => {
  const r = parseMac(v);
  if (r.ok) return;
  const e = r.error;
  const code = e.kind === "multicast"
    ? "mac-not-unicast"
    : e.kind === "zero"
    ? "mac-zero"
    : "bad-mac";
  const message = e.kind === "multicast"
    ? `MAC ${quote(v)} is a multicast address (low bit of the first octet set)`
    : e.kind === "zero"
    ? `MAC ${quote(v)} is all zeros`
    : `Cannot read mac ${quote(v)}: expected six hex octets separated by colons`;
  ctx.addIssue({
    code: "custom",
    message,
    params: {
      code,
      hint: 'use a unicast locally administered address such as "02:00:00:00:00:01"',
    },
  });
}).describe('Unicast MAC "02:00:00:00:00:01"; default derived from the VM and NIC index')
  .meta({ pattern: UNICAST_MAC_PATTERN });

/** One NIC under `vms.<vm>.nics`. */
export const nicSchema = z.strictObject({
  ip: ip.optional(),
  mac: mac.optional(),
  iommu: z.boolean().describe(
    "Offer VIRTIO_F_ACCESS_PLATFORM: the NIC reaches guest memory only through the VM's vIOMMU (needs the VM's `iommu`); default false",
  ).optional(),
  ...nicShape,
})
  .nullable().describe("A virtio-net NIC");

const name = (what: string) => z.string().meta({ pattern: NAME_PATTERN }).describe(what);

/** One VM under `vms`. */
export const vmSchema = z.strictObject({
  ...vmShape,
  ...nicShape,
  nics: z.record(name("NIC name"), nicSchema).describe("NICs by name, in order").optional(),
  vsock: z.strictObject({
    cid: int(3, 0xffff_fffe, "The guest's context id: 3 and up, unique in the lab"),
  }).describe("A virtio-vsock device").optional(),
  iommu: z.strictObject({
    mode: z.enum(["strict", "lazy", "static", "passthrough"]).describe(
      "The guest's DMA mode: strict (map before post, unmap on completion), lazy (batched unmaps, one flush), static (the NIC's buffer pool mapped once), passthrough (bypass)",
    ),
  }).describe("A virtio-iommu device (the vIOMMU) for the VM's NICs with `iommu: true`")
    .optional(),
}).nullable().describe("A simulated VM; NIC keys here apply to all its NICs");

/** One switch under `switches`. */
export const switchSchema = z.strictObject({
  ports_max: int(1, 4096, "Most links on this switch; default 64").optional(),
}).nullable().describe("An L2 learning bridge (no STP: switches must not form a loop)");

const endpoints = z.array(
  z.string().describe(
    '"vm:nic", "vm" (its only NIC) or "switch"; on a vsock link a VM or a vsock router',
  ),
)
  .superRefine((v, ctx) => {
    if (v.length !== 2) {
      ctx.addIssue({
        code: "custom",
        message: `A link has exactly 2 endpoints, got ${v.length}`,
        // One end is missing, or there are more than a link has: each gets its own way out.
        params: {
          code: "bad-endpoints",
          hint: v.length < 2
            ? 'give both ends: `endpoints: ["a:eth0", "b:eth0"]`'
            : "use a switch to join more than two NICs",
        },
      });
    }
  }).meta({ minItems: 2, maxItems: 2 }).describe("The two ends of the link");

/** One entry of `links`. */
export const linkSchema = z.strictObject({
  name: name(
    'Link name; default "<end0>-<end1>" from the endpoint names ("<vm0>-<vm1>-vsock" for kind: vsock)',
  ).optional(),
  kind: z.enum(["net", "vsock", "vhost-pci"]).describe(
    'What the link carries: "net" (frames between NICs and switches), "vsock" (packets between two VMs\' vsock devices) or "vhost-pci" (the second VM\'s NIC becomes a vhost-pci-net device that serves the first VM\'s NIC queues in its memory); default net',
  ).optional(),
  endpoints,
  ...impairmentShape,
  forward: impairmentSchema.describe("Overrides for endpoints[0] → endpoints[1]").optional(),
  reverse: impairmentSchema.describe("Overrides for endpoints[1] → endpoints[0]").optional(),
}).describe("A point-to-point link; impairments apply to both directions");

/** The whole topology file. */
export const topologySchema = z.strictObject({
  name: z.string().meta({ pattern: LAB_NAME_PATTERN }).describe("Lab name"),
  // A JSON Schema sees the parsed number, not how it was written: the notation rule
  // (leading_zero.ts) can only be said here.
  seed: int(
    0,
    0xffff_ffff,
    "Seed of every random decision (u32), in decimal digits as --seed takes it (0x10, 0o10, 1e3 and +5 are refused: seed-notation); default 1",
  ).optional(),
  defaults: z.strictObject({
    vm: z.strictObject(vmShape).describe("Defaults for every VM").optional(),
    nic: z.strictObject(nicShape).describe("Defaults for every NIC").optional(),
    link: impairmentSchema.describe(
      "Default impairments of every net link; a vsock link between two VMs takes delay, jitter, delay_correlation, distribution, rate, overhead and limit of them; vhost-pci links and links to a vsock router none",
    ).optional(),
  }).describe("Defaults, overridden by the same keys lower down").optional(),
  vms: z.record(name("VM name"), vmSchema).describe("VMs by name, in order"),
  switches: z.record(name("Switch name"), switchSchema).describe("Switches by name").optional(),
  vsock_routers: z.record(
    name("Vsock router name"),
    z.strictObject({}).nullable().describe(
      "Joins the vsock devices of every VM linked to it (kind: vsock); routes by destination CID",
    ),
  ).describe("Vsock routers by name").optional(),
  links: z.array(linkSchema).describe(
    "Links: between NICs and switches (net), vsock devices (vsock) or two VMs' NICs (vhost-pci)",
  ).optional(),
}).describe("A vlab topology");

/** A topology file as written, after the schema accepted it. */
export type RawTopology = z.infer<typeof topologySchema>;
/** One link as written. */
export type RawLink = z.infer<typeof linkSchema>;
/** Impairment keys as written. */
export type RawImpairment = z.infer<typeof impairmentSchema>;
