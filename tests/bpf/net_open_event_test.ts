import assert from "node:assert/strict";
import { decodeSample, formatIpv6, type OpenEvent, type TcpEvent } from "../../src/bpf/event.ts";
import {
  CRIENRICH_EVENT_ACCEPT,
  CRIENRICH_EVENT_CONNECT,
  CRIENRICH_EVENT_OPEN,
  CRIENRICH_FLAG_FILENAME_TRUNCATED,
  CRIENRICH_FLAG_MNTNS_UNKNOWN,
  CRIENRICH_FLAG_OPENAT2,
  NET_EVENT_FIELDS as N,
  NET_EVENT_SIZE,
  OPEN_EVENT_FIELDS as O,
  OPEN_HEAD_SIZE,
} from "../../src/bpf/event_layout.gen.ts";

/** The process head every sample shares, written at the generated offsets. */
function head(bytes: Uint8Array, type: number, flags: number): DataView {
  const view = new DataView(bytes.buffer);
  view.setBigUint64(N.ts_boot_ns.offset, 123_456_789n, true);
  view.setBigUint64(N.cgroup_id.offset, 4242n, true);
  view.setBigUint64(N.mntns_id.offset, 4026532999n, true);
  view.setBigUint64(N.mntns_seq.offset, 77n, true);
  view.setUint32(N.type.offset, type, true);
  view.setUint32(N.flags.offset, flags, true);
  view.setUint32(N.pid.offset, 501, true);
  view.setUint32(N.tgid.offset, 500, true);
  view.setUint32(N.ppid.offset, 1, true);
  view.setUint32(N.uid.offset, 1000, true);
  view.setUint32(N.gid.offset, 1001, true);
  bytes.set(new TextEncoder().encode("nc"), N.comm.offset);
  return view;
}

function tcpSample(type: number, family: number, state: number, error: number): Uint8Array {
  const bytes = new Uint8Array(NET_EVENT_SIZE);
  const view = head(bytes, type, 0);
  view.setBigUint64(N.duration_ns.offset, 2_500_000n, true);
  view.setUint16(N.family.offset, family, true);
  view.setUint16(N.protocol.offset, 6, true);
  view.setUint16(N.sport.offset, 41234, true);
  view.setUint16(N.dport.offset, 8080, true);
  view.setUint32(N.state.offset, state, true);
  view.setInt32(N.error.offset, error, true);
  if (family === 2) {
    bytes.set([10, 0, 0, 2], N.saddr.offset);
    bytes.set([127, 0, 0, 1], N.daddr.offset);
  } else {
    bytes.set([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], N.saddr.offset);
    bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], N.daddr.offset);
  }
  return bytes;
}

Deno.test("decodeSample() decodes a refused IPv4 connect with the owner's process fields", () => {
  const e = decodeSample(tcpSample(CRIENRICH_EVENT_CONNECT, 2, 7, 111)) as TcpEvent;
  assert.equal(e.type, "connect");
  assert.deepEqual(e.net, {
    protocol: "tcp",
    family: "ipv4",
    saddr: "10.0.0.2",
    sport: 41234,
    daddr: "127.0.0.1",
    dport: 8080,
  });
  assert.equal(e.tcpState, 7);
  assert.equal(e.error, 111);
  assert.equal(e.durationNs, 2_500_000n);
  assert.equal(e.pid, 500);
  assert.equal(e.tid, 501);
  assert.equal(e.comm, "nc");
  assert.equal(e.mntnsSeq, 77n);
  assert.equal(e.cgroupId, 4242n);
});

Deno.test("decodeSample() decodes an IPv6 accept", () => {
  const e = decodeSample(tcpSample(CRIENRICH_EVENT_ACCEPT, 10, 1, 0)) as TcpEvent;
  assert.equal(e.type, "accept");
  assert.equal(e.net.family, "ipv6");
  assert.equal(e.net.saddr, "fe80::1");
  assert.equal(e.net.daddr, "::1");
});

Deno.test("decodeSample() refuses a TCP sample shorter than its struct", () => {
  const short = tcpSample(CRIENRICH_EVENT_CONNECT, 2, 1, 0).subarray(0, NET_EVENT_SIZE - 8);
  assert.throws(() => decodeSample(short.slice()), RangeError);
});

function openSample(path: string, flags: number, result: number): Uint8Array {
  const encoded = new TextEncoder().encode(path);
  const size = Math.min(encoded.length + 1, O.path.size);
  const bytes = new Uint8Array(OPEN_HEAD_SIZE + size);
  const view = head(bytes, CRIENRICH_EVENT_OPEN, flags);
  view.setInt32(O.result.offset, result, true);
  view.setUint32(O.open_flags.offset, 0o2000101, true);
  view.setUint32(O.open_mode.offset, 0o644, true);
  view.setUint32(O.path_size.offset, size, true);
  view.setBigUint64(O.duration_ns.offset, 900n, true);
  bytes.set(encoded.subarray(0, size - 1), O.path.offset);
  return bytes;
}

Deno.test("decodeSample() decodes an open's path, flags, mode and result", () => {
  const e = decodeSample(openSample("/etc/app.conf", CRIENRICH_FLAG_MNTNS_UNKNOWN, 3)) as OpenEvent;
  assert.equal(e.type, "open");
  assert.equal(e.path, "/etc/app.conf");
  assert.equal(e.pathTruncated, false);
  assert.equal(e.flags, 0o2000101);
  assert.equal(e.mode, 0o644);
  assert.equal(e.result, 3);
  assert.equal(e.openat2, false);
  assert.equal(e.mntnsUnknown, true);
  assert.equal(e.durationNs, 900n);
});

Deno.test("decodeSample() decodes a failed openat2 with a cut path and invalid UTF-8", () => {
  const bytes = openSample(
    "/x".repeat(200),
    CRIENRICH_FLAG_OPENAT2 | CRIENRICH_FLAG_FILENAME_TRUNCATED,
    -2,
  );
  bytes[O.path.offset + 1] = 0xff;
  const e = decodeSample(bytes) as OpenEvent;
  assert.equal(e.result, -2);
  assert.equal(e.openat2, true);
  assert.equal(e.pathTruncated, true);
  assert.equal(e.path.length, 255);
  assert.equal(e.path[1], "\uFFFD");
});

Deno.test("decodeSample() refuses an open sample shorter than its path_size says", () => {
  const bytes = openSample("/etc/hosts", 0, 3);
  assert.throws(() => decodeSample(bytes.subarray(0, bytes.length - 2).slice()), RangeError);
});

Deno.test("formatIpv6() prints RFC 5952 text", () => {
  const v6 = (...groups: number[]) => {
    const bytes = new Uint8Array(16);
    groups.forEach((g, i) => {
      bytes[2 * i] = g >> 8;
      bytes[2 * i + 1] = g & 0xff;
    });
    return formatIpv6(bytes);
  };
  assert.equal(v6(0, 0, 0, 0, 0, 0, 0, 0), "::");
  assert.equal(v6(0, 0, 0, 0, 0, 0, 0, 1), "::1");
  assert.equal(v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), "2001:db8::1:0:0:1");
  assert.equal(v6(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), "2001:db8:0:1:1:1:1:1", "one zero group stays");
  assert.equal(v6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1), "::ffff:127.0.0.1");
  assert.equal(v6(0xfe80, 0, 0, 0, 0xabcd, 0, 0, 0), "fe80::abcd:0:0:0", "the first longest run");
});
