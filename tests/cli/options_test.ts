import assert from "node:assert/strict";
import { parseCommandArgs, parseDurationMs, parseOutputFormat } from "../../src/cli/options.ts";
import { UsageError } from "../../src/errors.ts";

Deno.test("parseDurationMs() reads ms, s, m, h and bare seconds", () => {
  assert.equal(parseDurationMs("500ms", "--timeout"), 500);
  assert.equal(parseDurationMs("3s", "--timeout"), 3000);
  assert.equal(parseDurationMs("1.5m", "--timeout"), 90_000);
  assert.equal(parseDurationMs("2h", "--timeout"), 7_200_000);
  assert.equal(parseDurationMs("7", "--timeout"), 7000);
  for (const bad of ["", "0", "-1s", "5x", "s", "1e3"]) {
    assert.throws(() => parseDurationMs(bad, "--timeout"), UsageError, bad);
  }
});

Deno.test("parseCommandArgs() turns unknown flags and missing values into UsageError", () => {
  assert.throws(
    () => parseCommandArgs("ps", ["--bogus"], {}),
    (e: Error) =>
      e instanceof UsageError &&
      e.message === `Unknown option '--bogus' (see "crienrich ps --help")`,
  );
  assert.throws(() => parseCommandArgs("ps", ["--timeout"], {}), UsageError);
  assert.throws(() => parseCommandArgs("ps", ["extra"], {}), UsageError);
  const parsed = parseCommandArgs("ps", [
    "-r",
    "/x.sock",
    "--timeout",
    "250ms",
    "--host-root",
    "/host",
  ], {});
  assert.deepEqual(parsed.global, {
    runtimeEndpoint: "/x.sock",
    timeoutMs: 250,
    hostRoot: "/host",
    debug: false,
    help: false,
  });
});

Deno.test("parseOutputFormat() accepts listed formats only", () => {
  assert.equal(parseOutputFormat(undefined, ["table", "json"], "table"), "table");
  assert.equal(parseOutputFormat("json", ["table", "json"], "table"), "json");
  assert.throws(() => parseOutputFormat("yaml", ["table", "json"], "table"), UsageError);
});
