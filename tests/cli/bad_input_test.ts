/**
 * One vocabulary of flags and errors: every command × every class of bad input, run as the
 * user runs it (a subprocess of src/main.ts), must end with the documented exit code, exactly
 * one stderr line in crienrich's own words, no stack trace and nothing on stdout. And "no
 * runtime" reads the same from every command.
 *
 * No root needed: every case fails before a runtime or the kernel is touched (the runtime
 * endpoint is a path that does not exist).
 */
import assert from "node:assert/strict";
import { type CliResult, runCli } from "../harness/real.ts";
import { ExitCode } from "../../src/errors.ts";

/** A socket path that does not exist, so no case can reach a real runtime by accident. */
const NO_SOCKET = "/nonexistent/crienrich-test.sock";
const ENV = { CONTAINER_RUNTIME_ENDPOINT: NO_SOCKET };

/** What each command needs besides the bad input for its own checks to come after it. */
const COMMANDS: Record<string, string[]> = {
  trace: ["--all"],
  ps: [],
  inspect: ["abc"],
  runtimes: [],
  doctor: [],
  version: [],
};

/** Formats each command accepts for -o, as its error must say. */
const FORMATS: Record<string, string> = {
  trace: "one of table, json",
  ps: "one of table, wide, json",
  inspect: "json",
  runtimes: "one of table, json",
  doctor: "one of table, json",
  version: "one of table, json",
};

interface Case {
  /** Bad-input class. */
  name: string;
  args: string[];
  /** The exact stderr line, for this command. */
  line: (command: string) => string;
}

const see = (command: string) => ` (see "crienrich ${command} --help")`;

const CASES: Case[] = [
  {
    name: "unknown flag",
    args: ["--bogus"],
    line: (c) => `crienrich: Unknown flag "--bogus"${see(c)}`,
  },
  {
    name: "unknown short flag",
    args: ["-Z"],
    line: (c) => `crienrich: Unknown flag "-Z"${see(c)}`,
  },
  {
    name: "missing value",
    args: ["--timeout"],
    line: (c) => `crienrich: Missing value for --timeout${see(c)}`,
  },
  {
    name: "flag where a value belongs",
    args: ["-r", "--debug"],
    line: (c) =>
      `crienrich: Missing value for -r: "--debug" is a flag (write --runtime-endpoint=--debug if it is the value)${
        see(c)
      }`,
  },
  {
    name: "value given to a boolean flag",
    args: ["--debug=yes"],
    line: (c) => `crienrich: Flag --debug takes no value, got "yes"${see(c)}`,
  },
  {
    name: "bad value",
    args: ["--timeout", "soon"],
    line: () => `crienrich: Invalid --timeout "soon": expected a duration like 500ms, 5s or 2m`,
  },
  {
    name: "negative duration",
    args: ["--timeout", "-1s"],
    line: () => `crienrich: Invalid --timeout "-1s": must be positive`,
  },
  {
    name: "bad -o",
    args: ["-o", "yaml"],
    line: (c) => `crienrich: Invalid -o "yaml": expected ${FORMATS[c]}`,
  },
  {
    name: "empty endpoint",
    args: ["-r", ""],
    line: () => `crienrich: Invalid --runtime-endpoint "": expected unix:///path or /path`,
  },
  {
    name: "endpoint without a path",
    args: ["-r", "unix://"],
    line: () =>
      `crienrich: Invalid --runtime-endpoint "unix://": names no socket path, expected unix:///path or /path`,
  },
  {
    name: "control characters in a value",
    args: ["--timeout", "\u001b[2J\nline2"],
    line: () =>
      `crienrich: Invalid --timeout "\\x1b[2J\\nline2": expected a duration like 500ms, 5s or 2m`,
  },
  {
    name: "a value flag given twice",
    args: ["--timeout", "1s", "--timeout", "2s"],
    line: (c) => `crienrich: Flag --timeout given more than once${see(c)}`,
  },
  {
    name: "a host root that is no directory",
    args: ["--host-root", "/etc/passwd"],
    line: () => `crienrich: Invalid --host-root "/etc/passwd": expected a directory`,
  },
  {
    name: "extra positional",
    args: ["extra"],
    line: (c) =>
      c === "inspect"
        ? `crienrich: inspect takes exactly one container reference, got "abc", "extra"${see(c)}`
        : `crienrich: Unexpected argument "extra": crienrich ${c} takes no arguments${see(c)}`,
  },
];

/** Asserts the shape every bad input must have, and the exact line. */
function assertUsage(result: CliResult, code: number, line: string, what: string): void {
  assert.equal(result.stdout, "", `${what}: nothing on stdout`);
  assert.equal(result.stderr, `${line}\n`, `${what}: exactly this one line`);
  assert.ok(!/\bat .+:\d+:\d+/.test(result.stderr), `${what}: no stack trace`);
  assert.equal(result.code, code, `${what}: exit code`);
}

/** Runs `cases` a few at a time (each is a Deno start-up). */
async function runAll<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += 8) await Promise.all(items.slice(i, i + 8).map(fn));
}

Deno.test("every command × every bad-input class: exit 2, one line of our own, no stdout", async () => {
  const runs = Object.entries(COMMANDS).flatMap(([command, base]) =>
    CASES.map((c) => ({ command, base, c }))
  );
  await runAll(runs, async ({ command, base, c }) => {
    const result = await runCli([command, ...base, ...c.args], ENV);
    assertUsage(result, ExitCode.Usage, c.line(command), `${command} ${c.name}`);
  });
});

Deno.test("an unknown command is exit 2 with one line naming the commands", async () => {
  const result = await runCli(["bogus", "--pod", "x"], ENV);
  assertUsage(
    result,
    ExitCode.Usage,
    'crienrich: Unknown command "bogus": expected one of trace, ps, inspect, runtimes, doctor, version',
    "unknown command",
  );
});

Deno.test("no arguments prints the usage on stderr, exit 2", async () => {
  const result = await runCli([], ENV);
  assert.equal(result.code, ExitCode.Usage);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^crienrich — .*\n\nUsage: crienrich <command> \[flags\]\n/);
});

Deno.test("selector and value checks of ps and trace: usage errors before any runtime call", async () => {
  const cases: [string[], string][] = [
    [["--pod", ""], `crienrich: Invalid --pod "": expected a pod name`],
    [["-n", ""], `crienrich: Invalid -n "": expected a namespace`],
    [["--container="], `crienrich: Invalid --container "": expected a container name`],
    [["-l", "=x"], `crienrich: Invalid label selector "=x": expected key=value`],
    [["-l", " =x"], `crienrich: Invalid label selector " =x": expected key=value`],
    [["-l", "app"], `crienrich: Invalid label selector "app": expected key=value`],
    [
      ["--pod", "\u001b[2J\nline2"],
      `crienrich: Invalid --pod "\\x1b[2J\\nline2": contains control characters`,
    ],
  ];
  const runs = ["ps", "trace"].flatMap((command) =>
    cases.map(([args, line]) => ({ command, args, line }))
  );
  await runAll(runs, async ({ command, args, line }) => {
    const result = await runCli([command, ...args], ENV);
    assertUsage(result, ExitCode.Usage, line, `${command} ${JSON.stringify(args)}`);
  });
});

Deno.test("trace's numbers are checked: negative, zero, garbage and too large", async () => {
  const cases: [string[], string][] = [
    [["--duration", "-1s"], `crienrich: Invalid --duration "-1s": must be positive`],
    [["--duration", "0"], `crienrich: Invalid --duration "0": must be positive`],
    [["--duration", "1000h"], `crienrich: Invalid --duration "1000h": must be at most 596h`],
    [["--resolve-wait", "-2s"], `crienrich: Invalid --resolve-wait "-2s": must be positive`],
    [["--count", "-1"], `crienrich: Invalid --count "-1": must be a positive integer`],
    [["--count", "0"], `crienrich: Invalid --count "0": must be a positive integer`],
    [["--count", "1.5"], `crienrich: Invalid --count "1.5": must be a positive integer`],
    [["--buffer-pages", "0"], `crienrich: Invalid --buffer-pages "0": must be a positive integer`],
    [["--buffer-pages", "3"], `crienrich: Invalid --buffer-pages "3": must be a power of two`],
    [
      ["--buffer-pages", "1048576"],
      `crienrich: Invalid --buffer-pages "1048576": must be at most 4096`,
    ],
    [["--buffer-pages", "8192"], `crienrich: Invalid --buffer-pages "8192": must be at most 4096`],
  ];
  await runAll(cases, async ([args, line]) => {
    const result = await runCli(["trace", "--all", ...args], ENV);
    assertUsage(result, ExitCode.Usage, line, args.join(" "));
  });
});

Deno.test("inspect's references are checked: pid 0, negative, garbage, cgroup ids beyond u64", async () => {
  const cases: [string, string][] = [
    ["pid:0", `crienrich: Invalid pid "0" in "pid:0": expected a number from 1 to 4194304`],
    ["pid:-1", `crienrich: Invalid pid "-1" in "pid:-1": expected a number from 1 to 4194304`],
    ["pid:abc", `crienrich: Invalid pid "abc" in "pid:abc": expected a number from 1 to 4194304`],
    [
      "cgroup:18446744073709551616",
      `crienrich: Invalid cgroup id "18446744073709551616" in "cgroup:18446744073709551616": expected a number from 1 to 2^64-1`,
    ],
    [
      "cgroup:0",
      `crienrich: Invalid cgroup id "0" in "cgroup:0": expected a number from 1 to 2^64-1`,
    ],
    [
      "not hex",
      `crienrich: Invalid container reference "not hex": expected a hex id or prefix, a name, pid:N or cgroup:ID`,
    ],
  ];
  await runAll(cases, async ([ref, line]) => {
    const result = await runCli(["inspect", ref, "-o", "json"], ENV);
    assertUsage(result, ExitCode.Usage, line, ref);
  });
});

Deno.test("no runtime reads the same, with the same hint, from every command", async () => {
  const line =
    `crienrich: No container runtime found: "${NO_SOCKET}" (missing); check the endpoint named by --runtime-endpoint, or start the runtime`;
  const envLine = line.replace("--runtime-endpoint", "CONTAINER_RUNTIME_ENDPOINT");
  const commands = [["runtimes"], ["ps"], ["inspect", "abc", "-o", "json"], ["trace", "--all"]];
  await runAll(commands, async (args) => {
    const byFlag = await runCli([...args, "-r", NO_SOCKET]);
    assert.equal(byFlag.code, ExitCode.RuntimeUnavailable, args.join(" "));
    assert.equal(byFlag.stderr, `${line}\n`, args.join(" "));
    const byEnv = await runCli(args, ENV);
    assert.equal(byEnv.code, ExitCode.RuntimeUnavailable, args.join(" "));
    assert.equal(byEnv.stderr, `${envLine}\n`, args.join(" "));
  });
  // doctor reports it as its runtime check, with the same socket, status and hint.
  const doctor = await runCli(["doctor", "-o", "json", "-r", NO_SOCKET]);
  const row = doctor.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l))
    .find((r) => r.name === "runtime");
  assert.equal(row?.status, "fail");
  assert.ok(String(row?.detail).includes(`${NO_SOCKET} (missing)`), row?.detail);
  assert.equal(row?.hint, "check the endpoint named by --runtime-endpoint, or start the runtime");
});
