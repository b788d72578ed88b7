/**
 * `vlab fault …`: inject a fault into a running lab through its control socket (`POST /faults`,
 * `lab/faults.ts`): `backend-crash VM [--mode exit|hang|slow|mid-pass] [--ms N] [--after N]`,
 * `guest-bug VM DEVICE QUEUE BUG`,
 * `lost-kick VM DEVICE QUEUE [-n N]`, `lost-irq VM DEVICE QUEUE [-n N]`, `vm-crash VM`. Option
 * values, and options the mode does not use, are checked here with the lab's reader (exit 2); names are
 * checked by the lab (unknown VM, device or queue: exit 1).
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { controlJson, resolveLab } from "../lab/client.ts";
import { quote } from "../devices/base/quote.ts";
import { GUEST_FAULT_KINDS } from "../devices/virtio/guest_faults.ts";
import { type Fault, parseFault } from "../lab/faults.ts";
import { VlabError } from "./errors.ts";
import { intOption } from "./int_option.ts";
import { writeAll } from "./progress.ts";

const encoder = new TextEncoder();
const out = (text: string) => writeAll(Deno.stdout, encoder.encode(text));

/**
 * Check a fault with the lab's own reader (`parseFault`, the one `POST /faults` uses) before
 * the lab is asked: what the lab would refuse as `bad-fault` (an option the mode does not use,
 * such as `--ms` with `--mode exit`) is a usage error here (`bad-option`, exit 2), whether or
 * not a lab runs. Names (VM, device, queue) are the lab's to check.
 *
 * @example
 * ```ts
 * import { checkFault } from "./fault.ts";
 * checkFault({ kind: "backend-crash", vm: "a", mode: "hang", ms: 200 }); // fine
 * // checkFault({ kind: "backend-crash", vm: "a", mode: "exit", ms: 5 }) throws bad-option
 * ```
 */
export function checkFault(body: Record<string, unknown>): Fault {
  const r = parseFault(body);
  if (!r.ok) throw new VlabError("bad-option", r.message, { hint: r.hint });
  return r.value;
}

async function send(lab: string | undefined, body: Record<string, unknown>): Promise<void> {
  checkFault(body);
  const record = await resolveLab(lab);
  const r = await controlJson<Record<string, unknown>>(record, "/faults", {
    method: "POST",
    body: JSON.stringify(body),
  });
  const words = Object.entries(r).filter(([k]) => k !== "fault" && k !== "vm")
    .map(([k, v]) => `${k}=${v}`);
  await out(`injected ${r.fault} on ${r.vm}${words.length ? ` (${words.join(" ")})` : ""}\n`);
}

function lostCommand(kind: "lost-kick" | "lost-irq") {
  const what = kind === "lost-kick" ? "kicks (guest → device)" : "used-buffer interrupts";
  return new Command(kind)
    .description(`drop the next N ${what} of a queue`)
    .argument("<vm>", "the VM")
    .argument("<device>", "the device (a NIC name, or vsock0)")
    .argument("<queue>", "the queue name (receiveq, transmitq; rx, tx, event)")
    .option("-n, --count <n>", "how many to drop", "1")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (vm, device, queue, opts) => {
      const count = intOption("-n", opts.count, 1, 1_000_000, "3");
      await send(opts.lab, { kind, vm, device, queue, count });
    });
}

function guestBugCommand() {
  return new Command("guest-bug")
    .description("make a guest driver corrupt its own queue; the device asks for a reset")
    .argument("<vm>", "the VM")
    .argument("<device>", "the device (a NIC name, or vsock0)")
    .argument("<queue>", "the queue name (receiveq, transmitq; rx, tx, event)")
    .argument("<bug>", GUEST_FAULT_KINDS.join(", "))
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (vm, device, queue, bug, opts) => {
      if (!(GUEST_FAULT_KINDS as readonly string[]).includes(bug)) {
        throw new VlabError("bad-option", `Unknown guest bug ${quote(bug)}`, {
          hint: `Bugs: ${GUEST_FAULT_KINDS.join(", ")}`,
        });
      }
      await send(opts.lab, { kind: "guest-bug", vm, device, queue, bug });
    });
}

/**
 * `vlab fault vm-crash VM [--ms N]`: the whole VM crashes and reboots (`lab/vm_reboot.ts`), its
 * guest booting N ms after its devices are back.
 */
function vmCrashCommand() {
  return new Command("vm-crash")
    .description("crash a whole VM (its guest and devices) and reboot it, as a hypervisor would")
    .argument("<vm>", "the VM")
    .option("--ms <n>", "how long its guest takes to boot once its devices are back (default 0)")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (vm, opts) => {
      const ms = opts.ms === undefined ? undefined : intOption("--ms", opts.ms, 0, 60_000, "2000");
      await send(opts.lab, { kind: "vm-crash", vm, ...(ms === undefined ? {} : { ms }) });
    });
}

/** `vlab fault backend-crash|guest-bug|lost-kick|lost-irq|vm-crash …`. */
export function faultCommand() {
  const crash = new Command("backend-crash")
    .description("kill a VM's device worker, hang it, or slow it; the supervisor restarts it")
    .argument("<vm>", "the VM")
    .addOption(
      new Option(
        "--mode <mode>",
        "exit, hang (loop stops, thread lives), slow, or mid-pass (inside a loop pass)",
      ).choices(["exit", "hang", "slow", "mid-pass"] as const).default("exit" as const),
    )
    .option("--ms <n>", "how long a hang or a slow-down lasts (default 5000 / 1000)")
    .option("--after <n>", "mid-pass: crash right after the Nth frame moved from now (default 1)")
    .option("--lab <name>", "the lab (default: the only running lab)")
    .action(async (vm, opts) => {
      const ms = opts.ms === undefined ? undefined : intOption("--ms", opts.ms, 1, 60_000, "2000");
      const after = opts.after === undefined
        ? undefined
        : intOption("--after", opts.after, 1, 100_000, "100");
      await send(opts.lab, { kind: "backend-crash", vm, mode: opts.mode, ms, after });
    });
  return new Command("fault")
    .description("inject a fault into a running lab (see docs/cli.md)")
    .addCommand(crash)
    .addCommand(guestBugCommand())
    .addCommand(lostCommand("lost-kick"))
    .addCommand(lostCommand("lost-irq"))
    .addCommand(vmCrashCommand());
}
