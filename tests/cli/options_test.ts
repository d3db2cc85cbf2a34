import assert from "node:assert/strict";
import { parseCommandArgs, parseDurationMs, parseOutputFormat } from "../../src/cli/options.ts";
import { UsageError } from "../../src/errors.ts";

Deno.test("parseDurationMs() reads ms, s, m, h and bare seconds", () => {
  assert.equal(parseDurationMs("500ms", "--timeout"), 500);
  assert.equal(parseDurationMs("3s", "--timeout"), 3000);
  assert.equal(parseDurationMs("1.5m", "--timeout"), 90_000);
  assert.equal(parseDurationMs("2h", "--timeout"), 7_200_000);
  assert.equal(parseDurationMs("7", "--timeout"), 7000);
  for (const bad of ["", "5x", "s", "1e3", "--1s"]) {
    assert.throws(
      () => parseDurationMs(bad, "--timeout"),
      (e: Error) =>
        e instanceof UsageError &&
        e.message === `Invalid --timeout "${bad}": expected a duration like 500ms, 5s or 2m`,
    );
  }
  for (const bad of ["0", "0ms", "-1s", "-5"]) {
    assert.throws(
      () => parseDurationMs(bad, "--duration"),
      (e: Error) =>
        e instanceof UsageError && e.message === `Invalid --duration "${bad}": must be positive`,
    );
  }
  // setTimeout fires at once beyond 2^31-1 ms: a longer duration would end a trace at once.
  assert.equal(parseDurationMs("596h", "--duration"), 596 * 3_600_000);
  assert.throws(() => parseDurationMs("597h", "--duration"), UsageError, "must be at most 596h");
});

Deno.test("parseCommandArgs() rewrites parseArgs errors into one line of its own", () => {
  const cases: [string[], string][] = [
    [["--bogus"], 'Unknown flag "--bogus"'],
    [["-xyz"], 'Unknown flag "-x"'],
    [["--timeout"], "Missing value for --timeout"],
    [["-r"], "Missing value for -r"],
    [
      ["--timeout", "--debug"],
      'Missing value for --timeout: "--debug" is a flag (write --timeout=--debug if it is the value)',
    ],
    [["--debug=yes"], 'Flag --debug takes no value, got "yes"'],
    [["extra"], 'Unexpected argument "extra": crienrich ps takes no arguments'],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseCommandArgs("ps", args, {}),
      (e: Error) =>
        e instanceof UsageError && e.message === `${message} (see "crienrich ps --help")`,
      args.join(" "),
    );
  }
});

Deno.test("parseCommandArgs() takes a negative number as the value of the flag before it", () => {
  assert.throws(
    () => parseCommandArgs("trace", ["--timeout", "-1s"], {}),
    (e: Error) =>
      e instanceof UsageError && e.message === 'Invalid --timeout "-1s": must be positive',
  );
  const parsed = parseCommandArgs("trace", ["--count", "-3", "-o", "-1"], {
    count: { type: "string" },
    output: { type: "string", short: "o" },
  });
  assert.equal(parsed.values.count, "-3");
  assert.equal(parsed.values.output, "-1");
});

Deno.test("parseCommandArgs() refuses empty and pathless global values", () => {
  const cases: [string[], string][] = [
    [["-r", ""], 'Invalid --runtime-endpoint "": expected unix:///path or /path'],
    [
      ["-r", "unix://"],
      'Invalid --runtime-endpoint "unix://": names no socket path, expected unix:///path or /path',
    ],
    [
      ["--runtime-endpoint=tcp://1.2.3.4:1"],
      'Unsupported runtime endpoint "tcp://1.2.3.4:1": only unix sockets are supported (unix:///path or /path)',
    ],
    [["--host-root", ""], 'Invalid --host-root "": expected a directory'],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseCommandArgs("version", args, {}),
      (e: Error) => e instanceof UsageError && e.message === message,
      args.join(" "),
    );
  }
});

Deno.test("parseCommandArgs() reads the global flags", () => {
  const hostRoot = Deno.makeTempDirSync({ prefix: "crienrich-host-" });
  const parsed = parseCommandArgs("ps", [
    "-r",
    "/x.sock",
    "--timeout",
    "250ms",
    "--host-root",
    hostRoot,
  ], {});
  Deno.removeSync(hostRoot);
  assert.deepEqual(parsed.global, {
    runtimeEndpoint: "/x.sock",
    timeoutMs: 250,
    hostRoot,
    debug: false,
    help: false,
  });
});

Deno.test("parseOutputFormat() accepts listed formats only", () => {
  assert.equal(parseOutputFormat(undefined, ["table", "json"], "table"), "table");
  assert.equal(parseOutputFormat("json", ["table", "json"], "table"), "json");
  assert.throws(
    () => parseOutputFormat("yaml", ["table", "json"], "table"),
    (e: Error) =>
      e instanceof UsageError && e.message === 'Invalid -o "yaml": expected one of table, json',
  );
  assert.throws(
    () => parseOutputFormat("table", ["json"], "json"),
    (e: Error) => e instanceof UsageError && e.message === 'Invalid -o "table": expected json',
  );
});
