import assert from "node:assert/strict";
import { BpfError, bpfError, errnoText } from "../../src/bpf/errno.ts";
import { PermissionError } from "../../src/errors.ts";

Deno.test("bpfError() names the function and the errno", () => {
  const error = bpfError("bpf_object__load", -22, ["libbpf: prog 'x': failed to load: -22"]);
  assert.ok(error instanceof BpfError);
  assert.equal(error.fn, "bpf_object__load");
  assert.equal(error.errno, 22);
  assert.equal(
    error.message,
    "bpf_object__load failed: EINVAL (invalid argument): libbpf: prog 'x': failed to load: -22",
  );
});

Deno.test("bpfError() turns EPERM into a PermissionError caused by the BpfError", () => {
  const error = bpfError("bpf_object__load", -1);
  assert.ok(error instanceof PermissionError);
  assert.ok(error.cause instanceof BpfError);
  assert.match(error.message, /EPERM/);
});

Deno.test("errnoText() falls back to the number for an unknown errno", () => {
  assert.equal(errnoText(4242), "errno 4242");
  assert.equal(errnoText(2), "ENOENT (no such file or directory)");
});
