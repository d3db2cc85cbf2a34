/**
 * Typed readers of a runtime's JSON answers (the Docker Engine API, Podman's libpod API, an
 * OCI spec stored as JSON), so that no answer reaches the mapping with a shape its types do
 * not say: a list where a list is expected, an object with a string `Id` where one is
 * expected, and each optional field either of its type or absent.
 *
 * Two kinds of reader:
 * - **field readers** ({@linkcode stringField}, {@linkcode objectField}, ...) never throw: a
 *   field of the wrong type reads as absent, as if the runtime had not said it (an optional
 *   fact is lost, the container is still listed);
 * - **shape checks** ({@linkcode expectList}, {@linkcode expectObjectWithId}) throw a
 *   {@linkcode MalformedAnswerError} when what everything else rests on is missing (the list
 *   itself, a container's id). Its message says what was wrong, in a form the API layer
 *   completes with the runtime and the call: `… answered GET /containers/json with` +
 *   `an object, not a list`.
 *
 * Real dockerd and Podman never answer so; a proxy, a wrong socket or a future API version
 * may.
 *
 * @module
 */

/** A JSON object as parsed: string keys, values of any JSON type. */
export type JsonObject = Record<string, unknown>;

/**
 * A runtime's answer has the wrong shape. The message completes "answered <call> with …"
 * (`an object, not a list`); the API layer turns it into a `RuntimeUnavailableError` naming
 * the runtime and the call. Never reaches the user as such.
 */
export class MalformedAnswerError extends Error {
  override readonly name = "MalformedAnswerError";
}

/**
 * What a JSON value is, for messages.
 * @example describeJson([]) // "a list"
 * @example describeJson(null) // "null"
 */
export function describeJson(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return value === "" ? "an empty string" : "a string";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/** True for a JSON object (not null, not a list). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `obj[key]` when `obj` is an object that has `key` itself (never an inherited property). */
function own(obj: unknown, key: string): unknown {
  return isJsonObject(obj) && Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * `obj[key]` when it is a string; undefined when `obj` is no object or the field is absent
 * or of another type.
 * @example stringField({ Name: "/web" }, "Name") // "/web"
 * @example stringField({ Name: [] }, "Name") // undefined
 */
export function stringField(obj: unknown, key: string): string | undefined {
  const value = own(obj, key);
  return typeof value === "string" ? value : undefined;
}

/**
 * `obj[key]` when it is a safe integer (a pid, a count); undefined otherwise.
 * @example integerField({ Pid: 42 }, "Pid") // 42
 * @example integerField({ Pid: "42" }, "Pid") // undefined
 */
export function integerField(obj: unknown, key: string): number | undefined {
  const value = own(obj, key);
  return Number.isSafeInteger(value) ? value as number : undefined;
}

/** `obj[key]` when it is a boolean; undefined otherwise. */
export function booleanField(obj: unknown, key: string): boolean | undefined {
  const value = own(obj, key);
  return typeof value === "boolean" ? value : undefined;
}

/**
 * `obj[key]` when it is an object (not null, not a list); undefined otherwise.
 * @example objectField({ State: 7 }, "State") // undefined
 */
export function objectField(obj: unknown, key: string): JsonObject | undefined {
  const value = own(obj, key);
  return isJsonObject(value) ? value : undefined;
}

/**
 * `obj[key]` when it is a list; undefined otherwise (its entries unchecked).
 * @example listField({ Components: "x" }, "Components") // undefined
 */
export function listField(obj: unknown, key: string): unknown[] | undefined {
  const value = own(obj, key);
  return Array.isArray(value) ? value : undefined;
}

/**
 * `obj[key]` as a string map (labels, annotations): its string-valued entries, the others
 * dropped; undefined when the field is no object.
 * @example stringMapField({ Labels: { a: "1", b: 2 } }, "Labels") // { a: "1" }
 * @example stringMapField({ Labels: "x" }, "Labels") // undefined
 */
export function stringMapField(obj: unknown, key: string): Record<string, string> | undefined {
  const value = objectField(obj, key);
  if (!value) return undefined;
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] =>
      typeof entry[1] === "string"
    ),
  );
}

/**
 * The answer as a list, each entry read by `entry`.
 * @throws {MalformedAnswerError} when the answer is no list (`an object, not a list`), or
 *   when `entry` throws for one (`a list whose entry 0 is null, not an object`)
 */
export function expectList<T>(answer: unknown, entry: (value: unknown) => T): T[] {
  if (!Array.isArray(answer)) {
    throw new MalformedAnswerError(`${describeJson(answer)}, not a list`);
  }
  return answer.map((value, index) => {
    try {
      return entry(value);
    } catch (error) {
      if (!(error instanceof MalformedAnswerError)) throw error;
      throw new MalformedAnswerError(`a list whose entry ${index} is ${error.message}`);
    }
  });
}

/**
 * The answer as an object with a non-empty string `Id` (a container's, a pod's).
 * @throws {MalformedAnswerError} otherwise (`null, not an object`,
 *   `an object whose Id is a number, not a string`, `an object without Id`)
 */
export function expectObjectWithId(answer: unknown): JsonObject & { Id: string } {
  if (!isJsonObject(answer)) {
    throw new MalformedAnswerError(`${describeJson(answer)}, not an object`);
  }
  const id = own(answer, "Id");
  if (typeof id === "string" && id !== "") return answer as JsonObject & { Id: string };
  throw new MalformedAnswerError(
    id === undefined
      ? "an object without Id"
      : id === ""
      ? "an object whose Id is an empty string"
      : `an object whose Id is ${describeJson(id)}, not a string`,
  );
}
