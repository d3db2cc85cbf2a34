/**
 * A socket that speaks the Docker Engine API (or Podman's) but answers in shapes no real
 * daemon gives: a list that is an object or null, an entry that is null, an id that is a
 * number, optional fields of the wrong type. Run as the user runs it (`crienrich ps -r
 * unix://…` as a subprocess) against a fake engine on a unix socket: a malformed list or id
 * fails with exit 3 and one stderr line naming the socket and what was wrong; a wrong-typed
 * optional field is ignored; beside a runtime that answers well, the malformed one is left
 * out with its one line.
 *
 * No root, no runtime needed: the engine is this test's own server.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCli } from "../harness/real.ts";
import { engineSocket } from "../harness/sockets.ts";
import type { ContainerRecord } from "../../src/runtime/record.ts";
import { ExitCode } from "../../src/errors.ts";

const ID = "c0ffee".repeat(10) + "c0ff";

/** dockerd 27's `GET /version`, as far as discovery reads it. */
const DOCKER_VERSION = { Version: "27.0.0", ApiVersion: "1.47", MinAPIVersion: "1.24" };

/** Podman 4.3.1's `GET /version`, as far as discovery reads it. */
const PODMAN_VERSION = {
  Version: "4.3.1",
  ApiVersion: "1.41",
  Components: [{ Name: "Podman Engine", Version: "4.3.1", Details: { APIVersion: "4.3.1" } }],
};

/** A well-formed inspect answer of an exited container named `name`. */
const inspect = (id: string, name: string) => ({
  Id: id,
  Name: `/${name}`,
  Created: "2026-12-01T00:37:19.614589718Z",
  State: { Status: "exited", Running: false, Pid: 0 },
  Config: { Image: "busybox:1", Labels: { tier: "web" } },
  HostConfig: { CgroupParent: "" },
});

/** Environment that keeps discovery off the host's own runtimes. */
const ENV = { CONTAINER_RUNTIME_ENDPOINT: "", DOCKER_HOST: "" };

/** Runs `ps -a -o json` against a fake engine answering `routes` at a fresh socket. */
async function psAgainst(routes: Record<string, unknown>): Promise<CliResult & { path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "crmal-" });
  const path = join(dir, "engine.sock");
  try {
    await using _engine = engineSocket(path, routes);
    const result = await runCli(
      ["ps", "-r", `unix://${path}`, "-a", "-o", "json", "--timeout", "2s"],
      { ...ENV, XDG_RUNTIME_DIR: dir },
    );
    return { ...result, path };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Exit 3, nothing on stdout, exactly `line` on stderr (one line, crienrich's words). */
function assertRuntimeFailed(result: CliResult, line: string): void {
  assert.equal(result.code, ExitCode.RuntimeUnavailable, result.stderr);
  assert.equal(result.stdout, "");
  const lines = result.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, result.stderr);
  assert.ok(!/unexpected|\n {4}at /.test(result.stderr), result.stderr);
  assert.equal(lines[0], line);
}

function records(result: CliResult): ContainerRecord[] {
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  return result.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

const docker = (routes: Record<string, unknown>) => ({
  "/version": DOCKER_VERSION,
  "/info": { CgroupDriver: "cgroupfs" },
  ...routes,
});

const podman = (routes: Record<string, unknown>) => ({
  "/version": PODMAN_VERSION,
  "/info": { CgroupDriver: "systemd" },
  "/libpod/containers/json": [{ Id: ID, Pod: "", IsInfra: false }],
  "/libpod/pods/json": [],
  [`/containers/${ID}/json`]: inspect(ID, "api"),
  ...routes,
});

const MALFORMED_DOCKER: [string, Record<string, unknown>, string][] = [
  [
    "a container list that is an object",
    { "/containers/json": { Id: ID } },
    "answered GET /containers/json with an object, not a list",
  ],
  [
    "a container list that is null",
    { "/containers/json": null },
    "answered GET /containers/json with null, not a list",
  ],
  [
    "a container list whose entry is null",
    { "/containers/json": [null] },
    "answered GET /containers/json with a list whose entry 0 is null, not an object",
  ],
  [
    "a list entry whose Id is a number",
    { "/containers/json": [{ Id: ID }, { Id: 5 }] },
    "answered GET /containers/json with a list whose entry 1 is an object whose Id is a number, not a string",
  ],
  [
    "an inspect whose Id is a number",
    {
      "/containers/json": [{ Id: ID }],
      [`/containers/${ID}/json`]: { ...inspect(ID, "x"), Id: 5 },
    },
    `answered GET /containers/${ID}/json with an object whose Id is a number, not a string`,
  ],
  [
    "an inspect that is a list",
    { "/containers/json": [{ Id: ID }], [`/containers/${ID}/json`]: [inspect(ID, "x")] },
    `answered GET /containers/${ID}/json with a list, not an object`,
  ],
];

for (const [name, routes, what] of MALFORMED_DOCKER) {
  Deno.test(`ps against a Docker socket answering ${name}: exit 3, one line`, async () => {
    const result = await psAgainst(docker(routes));
    assertRuntimeFailed(result, `crienrich: Docker socket "${result.path}" ${what}`);
  });
}

Deno.test("ps against a Docker socket whose inspect has wrong-typed optional fields lists it, those fields unsaid", async () => {
  const result = await psAgainst(docker({
    "/containers/json": [{ Id: ID, Names: 5 }],
    [`/containers/${ID}/json`]: {
      Id: ID,
      Name: [],
      Created: 3,
      RestartCount: "2",
      Image: {},
      State: 7,
      Config: { Image: ["busybox"], Labels: "x" },
      HostConfig: null,
    },
  }));
  const [record, ...rest] = records(result);
  assert.deepEqual(rest, []);
  assert.equal(record?.id, ID);
  assert.equal(record?.name, "");
  assert.equal(record?.state, "unknown");
  assert.equal(record?.created, "");
  assert.equal(record?.attempt, 0);
  assert.equal(record?.image, "");
  assert.equal(record?.image_id, "");
  assert.deepEqual(record?.labels, {});
  assert.equal(record?.pid, null);
  assert.equal(record?.cgroup_path, `/docker/${ID}`);
});

Deno.test("ps against a Docker socket whose /version has wrong-typed components uses it as Docker", async () => {
  const result = await psAgainst(docker({
    "/version": { ...DOCKER_VERSION, Components: "x" },
    "/info": { CgroupDriver: 5 },
    "/containers/json": [{ Id: ID }],
    [`/containers/${ID}/json`]: inspect(ID, "web"),
  }));
  const [record] = records(result);
  assert.equal(record?.name, "web");
  assert.equal(record?.runtime, "docker");
  assert.deepEqual(record?.labels, { tier: "web" });
  assert.equal(record?.cgroup_path, null, "no cgroup driver said");
});

const MALFORMED_PODMAN: [string, Record<string, unknown>, string][] = [
  [
    "a pod list that is an object",
    { "/libpod/pods/json": {} },
    "answered GET /v4.3.1/libpod/pods/json with an object, not a list",
  ],
  [
    "a container list whose entry is a string",
    { "/libpod/containers/json": [ID] },
    "answered GET /v4.3.1/libpod/containers/json with a list whose entry 0 is a string, not an object",
  ],
  [
    "a pod entry without Id",
    { "/libpod/pods/json": [{ Name: "shop" }] },
    "answered GET /v4.3.1/libpod/pods/json with a list whose entry 0 is an object without Id",
  ],
];

for (const [name, routes, what] of MALFORMED_PODMAN) {
  Deno.test(`ps against a Podman socket answering ${name}: exit 3, one line`, async () => {
    const result = await psAgainst(podman(routes));
    assertRuntimeFailed(result, `crienrich: Podman socket "${result.path}" ${what}`);
  });
}

Deno.test("ps against a Podman socket whose libpod entries have wrong-typed fields lists its container", async () => {
  const result = await psAgainst(podman({
    "/libpod/containers/json": [{ Id: ID, Pod: 5, PodName: null, IsInfra: "no" }],
    "/libpod/pods/json": [{ Id: "p".repeat(64), Name: 3, Labels: "x", InfraId: [] }],
  }));
  const [record, ...rest] = records(result);
  assert.deepEqual(rest, []);
  assert.equal(record?.id, ID);
  assert.equal(record?.name, "api");
  assert.equal(record?.runtime, "podman");
  assert.equal(record?.pod, null);
});

Deno.test("ps with a well-answering Docker Engine and a malformed Podman service lists Docker's containers and names Podman's answer in one line", async () => {
  const root = await Deno.makeTempDir({ prefix: "crmal-" });
  try {
    await Deno.symlink("/proc", join(root, "proc"));
    await Deno.symlink("/sys", join(root, "sys"));
    await Deno.mkdir(join(root, "run/podman"), { recursive: true });
    const dockerSock = join(root, "run/docker.sock");
    const podmanSock = join(root, "run/podman/podman.sock");
    await using _docker = engineSocket(
      dockerSock,
      docker({ "/containers/json": [{ Id: ID }], [`/containers/${ID}/json`]: inspect(ID, "web") }),
    );
    await using _podman = engineSocket(podmanSock, podman({ "/libpod/pods/json": { Id: "p" } }));
    const result = await runCli(
      ["ps", "--host-root", root, "-a", "-o", "json", "--timeout", "2s"],
      { ...ENV, XDG_RUNTIME_DIR: join(root, "no-xdg") },
    );
    assert.equal(result.code, 0, result.stderr);
    const listed: ContainerRecord[] = result.stdout.split("\n").filter(Boolean).map((line) =>
      JSON.parse(line)
    );
    assert.deepEqual(listed.map((r) => [r.name, r.runtime]), [["web", "docker"]]);
    const lines = result.stderr.split("\n").filter(Boolean);
    assert.equal(lines.length, 1, result.stderr);
    assert.ok(!/unexpected|\n {4}at /.test(result.stderr), result.stderr);
    assert.equal(
      lines[0],
      `crienrich: podman runtime at unix://${podmanSock} did not answer (Podman socket "${podmanSock}" answered GET /v4.3.1/libpod/pods/json with an object, not a list): its containers are left out`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
