import assert from "node:assert/strict";
import type { ExecEvent, OpenEvent, TcpEvent } from "../../src/bpf/event.ts";
import {
  connectMatches,
  execMatches,
  globToRegExp,
  openMatches,
  parseConnectTarget,
} from "../../src/trace/until.ts";
import { parseEventKinds } from "../../src/cli/options.ts";
import { UsageError } from "../../src/errors.ts";

const base = {
  tsBootNs: 1n,
  pid: 10,
  tid: 10,
  ppid: 1,
  uid: 0,
  gid: 0,
  comm: "app",
  cgroupId: 1n,
  mntnsId: 2n,
  mntnsSeq: 3n,
  mntnsUnknown: false,
};

function connect(daddr: string, dport: number, tcpState: number): TcpEvent {
  const family = daddr.includes(":") ? "ipv6" : "ipv4";
  return {
    ...base,
    type: "connect",
    net: { protocol: "tcp", family, saddr: daddr, sport: 40000, daddr, dport },
    tcpState,
    error: tcpState === 1 ? 0 : 111,
    durationNs: 1n,
  };
}

Deno.test("parseConnectTarget() takes IPv4, [IPv6] and * with a port", () => {
  assert.deepEqual(parseConnectTarget("10.0.0.9:5432"), { address: "10.0.0.9", port: 5432 });
  assert.deepEqual(parseConnectTarget("*:80"), { address: null, port: 80 });
  assert.deepEqual(parseConnectTarget("[::1]:8080"), { address: "::1", port: 8080 });
  assert.deepEqual(parseConnectTarget("[2001:DB8:0:0:0:0:0:1]:443"), {
    address: "2001:db8::1",
    port: 443,
  });
  assert.deepEqual(parseConnectTarget("[::ffff:127.0.0.1]:1"), {
    address: "::ffff:127.0.0.1",
    port: 1,
  });
  for (
    const bad of [
      "db:5432",
      "10.0.0.9",
      "10.0.0.9:0",
      "10.0.0.9:70000",
      "1.2.3.256:1",
      "010.0.0.1:80",
      "10.0.0.01:80",
      "[zz]:1",
      "::1:80",
      // The unspecified address: events name the address actually reached.
      "0.0.0.0:80",
      "[::]:80",
      "[0:0:0:0:0:0:0:0]:80",
    ]
  ) {
    assert.throws(() => parseConnectTarget(bad), RangeError, bad);
  }
});

Deno.test("connectMatches() needs an established connect to the address and port", () => {
  const target = parseConnectTarget("127.0.0.1:8080");
  assert.equal(connectMatches(connect("127.0.0.1", 8080, 1), target), true);
  assert.equal(connectMatches(connect("127.0.0.1", 8080, 7), target), false, "refused");
  assert.equal(connectMatches(connect("127.0.0.2", 8080, 1), target), false);
  assert.equal(connectMatches(connect("127.0.0.1", 8081, 1), target), false);
  assert.equal(connectMatches(connect("::1", 8080, 1), parseConnectTarget("*:8080")), true);
  assert.equal(connectMatches(connect("::1", 8080, 1), parseConnectTarget("[::1]:8080")), true);
});

Deno.test("connectMatches() never takes a self-connect (local end = remote end)", () => {
  const self = connect("127.0.0.1", 40000, 1);
  assert.equal(self.net.sport, 40000);
  assert.equal(connectMatches(self, parseConnectTarget("127.0.0.1:40000")), false);
  assert.equal(connectMatches(self, parseConnectTarget("*:40000")), false);
  const other = { ...self, net: { ...self.net, sport: 40001 } };
  assert.equal(connectMatches(other, parseConnectTarget("127.0.0.1:40000")), true);
});

Deno.test("openMatches() needs a successful open of a path matching the glob", () => {
  const open = (path: string, result: number): OpenEvent => ({
    ...base,
    type: "open",
    path,
    pathTruncated: false,
    flags: 0,
    mode: 0,
    result,
    openat2: false,
    durationNs: 1n,
  });
  const glob = /^\/etc\/app\/[^/]*\.yaml$/;
  assert.equal(openMatches(open("/etc/app/config.yaml", 3), glob), true);
  assert.equal(openMatches(open("/etc/app/config.yaml", -2), glob), false, "ENOENT");
  assert.equal(openMatches(open("/etc/app/sub/config.yaml", 3), glob), false);
  // Cut at 255 bytes: "/etc/app/<246 bytes>" is all that is known of the path opened.
  const cut = { ...open(`/etc/app/${"d".repeat(246)}`, 3), pathTruncated: true };
  assert.equal(openMatches(cut, globToRegExp("/etc/app/*")), false);
  assert.equal(openMatches({ ...cut, pathTruncated: false }, globToRegExp("/etc/app/*")), true);
});

Deno.test("execMatches() never matches a binary path or argv[0] the kernel cut", () => {
  const exec = (binary: string, args: string[], cut = false, argsCut = false): ExecEvent => ({
    ...base,
    type: "exec",
    binary,
    binaryTruncated: cut,
    args,
    argsTruncated: argsCut,
  });
  const long = `/opt/${"d".repeat(245)}/app-hel`; // cut from ".../app-helper"
  assert.equal(execMatches(exec(long, ["app"], true), "/opt/*"), false);
  assert.equal(execMatches(exec(long, ["app"], true), "app-hel"), false);
  assert.equal(execMatches(exec(long, ["app"], false), "app-hel"), true);
  // argv[0] is whole unless it is the last (cut) element of a cut argv.
  assert.equal(execMatches(exec(long, ["/bin/app", "x"], true, true), "/bin/app"), true);
  assert.equal(execMatches(exec(long, ["/bin/app"], true, true), "/bin/app"), false);
  assert.equal(execMatches(exec("/bin/app", ["/bin/app"], false, true), "/bin/app"), true);
});

Deno.test("parseEventKinds() takes every kind, defaults to exec,exit and refuses others", () => {
  assert.deepEqual([...parseEventKinds(undefined)], ["exec", "exit"]);
  assert.deepEqual([...parseEventKinds("open, connect,open")], ["open", "connect"]);
  for (const bad of ["", "exec,", "tcp", "EXEC"]) {
    assert.throws(() => parseEventKinds(bad), UsageError, bad);
  }
});
