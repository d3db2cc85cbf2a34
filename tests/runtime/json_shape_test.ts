/**
 * The typed readers of runtimes' JSON answers: a field of the wrong type reads as absent, a
 * missing list or id is a {@linkcode MalformedAnswerError} saying what was wrong.
 */
import assert from "node:assert/strict";
import {
  booleanField,
  describeJson,
  expectList,
  expectObjectWithId,
  integerField,
  listField,
  MalformedAnswerError,
  objectField,
  stringField,
  stringMapField,
} from "../../src/runtime/json_shape.ts";

Deno.test("field readers give a field of its type, undefined for any other or no object", () => {
  const obj = JSON.parse(
    '{"s":"x","n":7,"f":1.5,"b":true,"o":{"k":"v"},"l":[1],"nul":null,"__proto__":{"s":"p"}}',
  );
  assert.equal(stringField(obj, "s"), "x");
  assert.equal(integerField(obj, "n"), 7);
  assert.equal(integerField(obj, "f"), undefined);
  assert.equal(booleanField(obj, "b"), true);
  assert.deepEqual(objectField(obj, "o"), { k: "v" });
  assert.deepEqual(listField(obj, "l"), [1]);
  for (const key of ["n", "b", "o", "l", "nul", "missing"]) {
    assert.equal(stringField(obj, key), undefined, key);
  }
  for (const key of ["s", "b", "o", "l", "nul"]) assert.equal(integerField(obj, key), undefined);
  assert.equal(booleanField(obj, "s"), undefined);
  assert.equal(objectField(obj, "l"), undefined, "a list is no object");
  assert.equal(objectField(obj, "nul"), undefined, "null is no object");
  assert.equal(listField(obj, "o"), undefined);
  for (const notObject of [null, undefined, 5, "s", [obj]]) {
    assert.equal(stringField(notObject, "s"), undefined);
  }
  assert.equal(stringField({}, "toString"), undefined, "inherited properties are not fields");
  assert.equal(stringField(objectField(obj, "__proto__"), "s"), "p", "an own __proto__ key");
});

Deno.test("stringMapField() keeps string values only; no object is undefined", () => {
  assert.deepEqual(stringMapField({ L: { a: "1", b: 2, c: null, d: {} } }, "L"), { a: "1" });
  assert.equal(stringMapField({ L: "x" }, "L"), undefined);
  assert.equal(stringMapField({ L: null }, "L"), undefined);
  assert.equal(stringMapField({ L: ["a"] }, "L"), undefined);
});

Deno.test("describeJson() names each JSON type", () => {
  assert.deepEqual(
    [{}, [], null, "s", "", 1, true, undefined].map(describeJson),
    [
      "an object",
      "a list",
      "null",
      "a string",
      "an empty string",
      "a number",
      "a boolean",
      "nothing",
    ],
  );
});

/** The message of the MalformedAnswerError `fn` throws. */
function malformed(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof MalformedAnswerError, String(error));
    return error.message;
  }
  assert.fail("no MalformedAnswerError");
}

Deno.test("expectObjectWithId() wants an object with a non-empty string Id", () => {
  assert.deepEqual(expectObjectWithId({ Id: "a", x: 1 }), { Id: "a", x: 1 });
  assert.equal(malformed(() => expectObjectWithId(null)), "null, not an object");
  assert.equal(malformed(() => expectObjectWithId([])), "a list, not an object");
  assert.equal(malformed(() => expectObjectWithId({})), "an object without Id");
  assert.equal(
    malformed(() => expectObjectWithId({ Id: 5 })),
    "an object whose Id is a number, not a string",
  );
  assert.equal(
    malformed(() => expectObjectWithId({ Id: "" })),
    "an object whose Id is an empty string",
  );
});

Deno.test("expectList() wants a list, and names the entry its reader refuses", () => {
  const ids = (answer: unknown) => expectList(answer, (e) => expectObjectWithId(e).Id);
  assert.deepEqual(ids([{ Id: "a" }, { Id: "b" }]), ["a", "b"]);
  assert.deepEqual(ids([]), []);
  assert.equal(malformed(() => ids({})), "an object, not a list");
  assert.equal(malformed(() => ids(null)), "null, not a list");
  assert.equal(malformed(() => ids("[]")), "a string, not a list");
  assert.equal(
    malformed(() => ids([{ Id: "a" }, null])),
    "a list whose entry 1 is null, not an object",
  );
  // Any other error of the reader is no shape error: it goes through untouched.
  assert.throws(() =>
    expectList([1], () => {
      throw new RangeError("bug");
    }), RangeError);
});
