/**
 * IPv4 and MAC addresses of topology NICs: parsing, subnet arithmetic and the rule that derives
 * a default MAC from a VM's and a NIC's position in the file.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";

/** An IPv4 address with its prefix length; `address` is the 32-bit value. */
export interface Cidr {
  address: number;
  prefix: number;
}

/** An octet in decimal without a leading zero (`010` is 8 to `inet_aton`, 10 to most parsers). */
const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";

/**
 * JSON Schema pattern of the text {@linkcode parseCidr} reads: four octets of 1 to 3 digits up to
 * 255, a prefix length of 1 to 32 (1 or 2 digits), and the whitespace it trims. Whether the
 * address is a host's (`bad-address`) is left to the parser's callers.
 *
 * @example
 * ```ts
 * import { IPV4_CIDR_PATTERN } from "./addresses.ts";
 * new RegExp(IPV4_CIDR_PATTERN, "u").test("10.0.0.1/33"); // false
 * ```
 */
export const IPV4_CIDR_PATTERN =
  `^\\s*${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}/(?:3[0-2]|[12]\\d|0?[1-9])\\s*$`;

/**
 * Read `"10.0.0.1/24"`. The prefix is required.
 *
 * @example
 * ```ts
 * import { parseCidr } from "./addresses.ts";
 * parseCidr("10.0.0.1/24"); // { ok: true, value: { address: 167772161, prefix: 24 } }
 * ```
 */
export function parseCidr(text: string): Result<Cidr, { kind: "bad-ip"; reason: string }> {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text.trim());
  if (m === null) {
    return err({ kind: "bad-ip", reason: "expected an IPv4 address such as 10.0.0.1/24" });
  }
  const texts = [m[1], m[2], m[3], m[4]];
  const zeroLed = texts.find((t) => t.length > 1 && t.startsWith("0"));
  if (zeroLed !== undefined) {
    // inet_aton (iputils' ping, Python's socket) reads it as octal, most other parsers as decimal.
    return err({
      kind: "bad-ip",
      reason: `the octet ${zeroLed} has a leading zero, which some tools read as octal: write ${
        Number(zeroLed)
      }`,
    });
  }
  const octets = texts.map(Number);
  if (octets.some((o) => o > 255)) return err({ kind: "bad-ip", reason: "an octet is above 255" });
  if (m[5] === undefined) return err({ kind: "bad-ip", reason: "the prefix length is missing" });
  const prefix = Number(m[5]);
  if (prefix < 1 || prefix > 32) {
    return err({ kind: "bad-ip", reason: `prefix length must be 1..32, got ${prefix}` });
  }
  const address = ((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]) >>> 0;
  return ok({ address, prefix });
}

/**
 * Dotted form of a 32-bit address.
 *
 * @example
 * ```ts
 * import { formatIpv4 } from "./addresses.ts";
 * formatIpv4(167772161); // "10.0.0.1"
 * ```
 */
export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((s) => (address >>> s) & 0xff).join(".");
}

/**
 * Network and broadcast addresses of a prefix.
 *
 * @example
 * ```ts
 * import { subnetOf } from "./addresses.ts";
 * subnetOf({ address: 167772161, prefix: 24 }); // { network: 167772160, broadcast: 167772415 }
 * ```
 */
export function subnetOf(cidr: Cidr): { network: number; broadcast: number } {
  const mask = cidr.prefix === 0 ? 0 : (0xffff_ffff << (32 - cidr.prefix)) >>> 0;
  const network = (cidr.address & mask) >>> 0;
  return { network, broadcast: (network | (~mask >>> 0)) >>> 0 };
}

/** Address blocks that are never a host's address, first match wins (RFC 1122, 5735, 5771). */
const NOT_HOST: readonly { network: number; prefix: number; what: string }[] = [
  { network: 0x0000_0000, prefix: 8, what: 'a "this network" address (0.0.0.0/8)' },
  { network: 0x7f00_0000, prefix: 8, what: "a loopback address (127.0.0.0/8)" },
  { network: 0xe000_0000, prefix: 4, what: "a multicast address (224.0.0.0/4)" },
  { network: 0xffff_ffff, prefix: 32, what: "the limited broadcast address" },
  { network: 0xf000_0000, prefix: 4, what: "a reserved address (240.0.0.0/4)" },
];

/**
 * Why an address cannot be a host's (a NIC's) address, or null when it can: "this network",
 * loopback, multicast, limited broadcast and reserved blocks. The network and broadcast
 * addresses of the NIC's own prefix are checked with the segment (`checks.ts`).
 *
 * @example
 * ```ts
 * import { notHostAddress } from "./addresses.ts";
 * notHostAddress(0x7f000001); // "a loopback address (127.0.0.0/8)"
 * notHostAddress(0x0a000001); // null
 * ```
 */
export function notHostAddress(address: number): string | null {
  for (const b of NOT_HOST) {
    if (subnetOf({ address, prefix: b.prefix }).network === b.network) return b.what;
  }
  return null;
}

/** Why a MAC cannot be used. */
export type MacError = { kind: "syntax" } | { kind: "multicast" } | { kind: "zero" };

/**
 * JSON Schema pattern of a MAC {@linkcode parseMac} takes apart from the all-zero one: six hex
 * octets, any case, the first with its I/G (multicast) bit clear.
 *
 * @example
 * ```ts
 * import { UNICAST_MAC_PATTERN } from "./addresses.ts";
 * new RegExp(UNICAST_MAC_PATTERN, "u").test("01:00:5e:00:00:01"); // false
 * ```
 */
export const UNICAST_MAC_PATTERN = "^[0-9a-fA-F][02468aceACE](?::[0-9a-fA-F]{2}){5}$";

/**
 * Read a MAC (`"02:00:00:00:00:01"`, any case) and return it in lower case; multicast
 * (I/G bit set, including broadcast) and all-zero addresses are refused.
 *
 * @example
 * ```ts
 * import { parseMac } from "./addresses.ts";
 * parseMac("02:AB:00:00:00:01"); // { ok: true, value: "02:ab:00:00:00:01" }
 * ```
 */
export function parseMac(text: string): Result<string, MacError> {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) return err({ kind: "syntax" });
  const mac = text.toLowerCase();
  const octets = mac.split(":").map((h) => parseInt(h, 16));
  if (octets.every((o) => o === 0)) return err({ kind: "zero" });
  if ((octets[0] & 1) === 1) return err({ kind: "multicast" });
  return ok(mac);
}

/**
 * Default MAC of NIC `nicIndex` of VM `vmIndex` (both 0-based, in file order):
 * `02:00:VH:VL:NH:NL`, i.e. locally administered unicast, then the VM index and the NIC index as
 * 16-bit big-endian numbers. Distinct for up to 65536 VMs with up to 65536 NICs each.
 *
 * @example
 * ```ts
 * import { deriveMac } from "./addresses.ts";
 * deriveMac(1, 0); // "02:00:00:01:00:00"
 * deriveMac(258, 3); // "02:00:01:02:00:03"
 * ```
 */
export function deriveMac(vmIndex: number, nicIndex: number): string {
  if (!Number.isInteger(vmIndex) || vmIndex < 0 || vmIndex > 0xffff) {
    throw new RangeError(`VM index out of range: ${vmIndex}`);
  }
  if (!Number.isInteger(nicIndex) || nicIndex < 0 || nicIndex > 0xffff) {
    throw new RangeError(`NIC index out of range: ${nicIndex}`);
  }
  return formatMac([2, 0, vmIndex >> 8, vmIndex & 0xff, nicIndex >> 8, nicIndex & 0xff]);
}

/**
 * A MAC's six bytes as text, lower case (`"02:00:00:01:00:00"`), as specs carry them.
 *
 * @example
 * ```ts
 * import { formatMac } from "./addresses.ts";
 * formatMac([2, 0, 0, 1, 0, 0xab]); // "02:00:00:01:00:ab"
 * ```
 */
export function formatMac(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
