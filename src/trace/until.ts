/**
 * The CI gates of `trace`: which event ends a trace with exit code 0 (`--until-exec`,
 * `--until-args`, `--until-connect`, `--until-open`).
 *
 * @module
 */
import { formatIpv6, type TraceEvent } from "../bpf/event.ts";

/**
 * True when an exec matches a `--until-exec` pattern: its binary path, its `argv[0]`, or the
 * binary's base name equals the pattern, which may be a glob (`*` and `?` within one path
 * segment, `[abc]` classes). Text inside the arguments never matches: see
 * {@linkcode execArgsContain}. A string the kernel cut at its bound (a binary path over 255
 * bytes, an `argv[0]` that is the cut last element of a long argv) never matches: only its
 * beginning is known, and a glob can match that beginning and not the whole (`/opt/*` and
 * `/opt/<250 bytes>/x` cut after 255 bytes), or the cut base name (`app-hel`) exactly.
 *
 * @example execMatches(exec("/bin/sh", ["/bin/sh", "-c", "/bin/hostname"]), "/bin/hostname") // false
 */
export function execMatches(event: TraceEvent, pattern: string | RegExp): boolean {
  if (event.type !== "exec") return false;
  const glob = typeof pattern === "string" ? globToRegExp(pattern) : pattern;
  const argv0Whole = !(event.argsTruncated && event.args.length <= 1);
  if (argv0Whole && glob.test(event.args[0] ?? "")) return true;
  if (event.binaryTruncated) return false;
  const base = event.binary.slice(event.binary.lastIndexOf("/") + 1);
  return glob.test(event.binary) || glob.test(base);
}

/** True when an exec's command line (argv joined by spaces) contains `text` (`--until-args`). */
export function execArgsContain(event: TraceEvent, text: string): boolean {
  return event.type === "exec" && event.args.join(" ").includes(text);
}

/**
 * Compiles a shell-style glob into an anchored regular expression: `*` is any run of
 * characters but `/`, `?` one such character, `[...]` a class (`[!...]` negated); anything
 * else, and a `[` without its `]`, is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[" && glob.indexOf("]", i + 2) !== -1) {
      const end = glob.indexOf("]", i + 2);
      const body = glob.slice(i + 1, end);
      const negated = body.startsWith("!");
      const members = (negated ? body.slice(1) : body).replace(/[\\\]^]/g, "\\$&");
      source += `[${negated ? "^" : ""}${members}]`;
      i = end;
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** A `--until-connect` target: an address (or any, `*`) and a port. */
export interface ConnectTarget {
  /** The remote address as events print it (dotted IPv4, RFC 5952 IPv6), or null for any. */
  address: string | null;
  port: number;
}

/**
 * Parses `HOST:PORT` of `--until-connect`: HOST an IPv4 address, an IPv6 address in
 * brackets (`[::1]:80`) or `*` for any; names are not resolved (the kernel sees addresses),
 * and IPv4 octets with a leading zero (`010.0.0.1`, octal to some tools) are refused.
 *
 * @throws {RangeError} when the text is not of that form or the port is not 1-65535.
 */
export function parseConnectTarget(text: string): ConnectTarget {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|(\*|\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new RangeError(
      `expected ADDRESS:PORT with an IPv4 address, [IPv6] or *, and a port from 1 to 65535`,
    );
  }
  if (match[2] !== undefined) {
    // A leading zero is octal to inet_aton(3) and decimal elsewhere; events print neither
    // form, so such a target could never match: refused rather than waited on in vain.
    const octets = match[2] === "*" ? [] : match[2].split(".");
    if (octets.some((octet) => Number(octet) > 255 || /^0\d/.test(octet))) {
      throw new RangeError(`"${match[2]}" is not an IPv4 address in dotted decimal`);
    }
    return { address: match[2] === "*" ? null : unlessUnspecified(match[2]), port };
  }
  return { address: unlessUnspecified(canonicalIpv6(match[1]!)), port };
}

/**
 * `address`, unless it is the unspecified address (0.0.0.0, ::): a connect to it reaches the
 * host's own address, and its event names that address (127.0.0.1, ::1), never 0.0.0.0, so
 * such a target could never match.
 * @throws {RangeError} for the unspecified address
 */
function unlessUnspecified(address: string): string {
  if (address === "0.0.0.0" || address === "::") {
    throw new RangeError(
      `${address} is the unspecified address, never a connection's: name the address connected to, or * for any`,
    );
  }
  return address;
}

/**
 * An IPv6 address written any valid way, as events print it ({@linkcode formatIpv6}).
 *
 * @throws {RangeError} when it is not an IPv6 address
 */
function canonicalIpv6(text: string): string {
  // The WHATWG URL parser validates IPv6 hosts and prints them as hex groups with one `::`.
  let host: string;
  try {
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    throw new RangeError(`"${text}" is not an IPv6 address`);
  }
  const [head = "", tail] = host.split("::");
  const groups = (part: string | undefined) => part ? part.split(":") : [];
  const left = groups(head), right = groups(tail);
  const all = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return formatIpv6(bytes);
}

/**
 * True when a connect reached ESTABLISHED with `target` (`--until-connect`). An IPv4
 * address and its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`, what a dual-stack AF_INET6
 * socket connecting to an IPv4 peer reports) are one address. A self-connect (local end
 * equal to the remote end: a socket bound to the port it connects to, which a retry loop
 * towards a local port in the ephemeral range hits while nobody listens) is established
 * but reached nothing: it never matches.
 *
 * @example connectMatches(connect("::ffff:10.0.0.9", 5432), parseConnectTarget("10.0.0.9:5432")) // true
 */
export function connectMatches(event: TraceEvent, target: ConnectTarget): boolean {
  return event.type === "connect" && event.tcpState === 1 && event.net.dport === target.port &&
    !(event.net.sport === event.net.dport && event.net.saddr === event.net.daddr) &&
    (target.address === null || unmapped(event.net.daddr) === unmapped(target.address));
}

/** An address as events print it, an IPv4-mapped IPv6 one (`::ffff:a.b.c.d`) as IPv4. */
function unmapped(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * True when an open succeeded on a path matching `pattern` (`--until-open`): the path as
 * the process passed it, a glob as for {@linkcode execMatches}. A path the kernel cut at 255
 * bytes (`path_truncated`) never matches: a glob that matches its beginning may not match
 * the path opened (`/etc/api/*` and `/etc/api/<250 bytes>/x`).
 */
export function openMatches(event: TraceEvent, pattern: RegExp): boolean {
  return event.type === "open" && event.result >= 0 && !event.pathTruncated &&
    pattern.test(event.path);
}
