/**
 * gRPC failures of a runtime's unix socket, turned into crienrich's error classes (and so
 * exit codes): one wording for the CRI client and containerd's own API client.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import {
  errorMessage,
  NotFoundError,
  PermissionError,
  RuntimeUnavailableError,
} from "../errors.ts";

/** What a message says of the failed call. */
export interface GrpcCallContext {
  /** The socket as messages name it, e.g. `runtime socket "/run/containerd/containerd.sock"`. */
  where: string;
  /** The call, e.g. `RuntimeService/Version`. */
  call: string;
  /** The call's deadline, in ms. */
  timeoutMs: number;
  /** The API the socket was expected to speak, e.g. `CRI v1`. */
  api: string;
  /** What a socket that fails otherwise may not be, e.g. `a CRI runtime`. */
  expected: string;
}

/**
 * The error class of a failed call: {@linkcode RuntimeUnavailableError} for a missed
 * deadline, a missing or refusing socket, an unimplemented API or anything else;
 * {@linkcode PermissionError} for EACCES or PERMISSION_DENIED; {@linkcode NotFoundError}
 * for NOT_FOUND. The gRPC error is the `cause`.
 */
export function translateGrpcError(error: grpc.ServiceError, context: GrpcCallContext): Error {
  const { where, call, timeoutMs, api, expected } = context;
  const details = error.details || errorMessage(error);
  const cause = { cause: error };
  switch (error.code) {
    case status.DEADLINE_EXCEEDED:
      return new RuntimeUnavailableError(
        `Runtime at ${where} did not answer ${call} within ${timeoutMs} ms: raise --timeout or check the runtime`,
        cause,
      );
    case status.UNIMPLEMENTED:
      return new RuntimeUnavailableError(
        `Runtime at ${where} does not implement ${api} (${call} unimplemented): ${details}`,
        cause,
      );
    case status.NOT_FOUND:
      return new NotFoundError(`${call} on ${where}: ${details}`, cause);
    case status.PERMISSION_DENIED:
      return new PermissionError(`Cannot call ${call} on ${where}: ${details}`, cause);
  }
  if (/EACCES|permission denied|NotCapable/i.test(details)) {
    return new PermissionError(
      `Cannot connect to ${where}: permission denied (run as root, with --allow-all)`,
      cause,
    );
  }
  if (/ENOENT/.test(details)) {
    return new RuntimeUnavailableError(`Cannot connect to ${where}: no such socket`, cause);
  }
  if (/ECONNREFUSED/.test(details)) {
    return new RuntimeUnavailableError(
      `Cannot connect to ${where}: connection refused (is the runtime running?)`,
      cause,
    );
  }
  return new RuntimeUnavailableError(
    `${call} on ${where} failed: ${details} (is it ${expected}?)`,
    cause,
  );
}
