import assert from "node:assert/strict";
import { endpointToSocketPath } from "../../src/runtime/cri_client.ts";
import {
  crictlRuntimeEndpoint,
  crictlYamlPath,
  dockerHostPath,
  endpointCandidates,
  WELL_KNOWN_ENDPOINTS,
} from "../../src/runtime/endpoints.ts";
import { UsageError } from "../../src/errors.ts";

// --- endpointToSocketPath ----------------------------------------------------------------

Deno.test("endpointToSocketPath() accepts the three forms crictl accepts", () => {
  const cases: [string, string][] = [
    ["unix:///a/b.sock", "/a/b.sock"],
    ["unix:/a/b.sock", "/a/b.sock"],
    ["/a/b.sock", "/a/b.sock"],
    ["unix:///run/containerd/containerd.sock", "/run/containerd/containerd.sock"],
    ["UNIX:///run/crio/crio.sock", "/run/crio/crio.sock"],
    // A colon later in a plain path is not a scheme.
    ["/run/a:b.sock", "/run/a:b.sock"],
  ];
  for (const [endpoint, path] of cases) {
    assert.equal(endpointToSocketPath(endpoint), path, endpoint);
  }
});

Deno.test("endpointToSocketPath() rejects other schemes with a UsageError naming the endpoint", () => {
  for (const endpoint of ["tcp://h:1", "http://x", "npipe:////./pipe/x", "https://h/x.sock"]) {
    assert.throws(
      () => endpointToSocketPath(endpoint),
      (error: unknown) => {
        assert.ok(error instanceof UsageError, `${endpoint}: ${error}`);
        assert.equal(error.exitCode, 2);
        assert.match(error.message, /^Unsupported runtime endpoint "/);
        assert.ok(error.message.includes(`"${endpoint}"`), error.message);
        return true;
      },
    );
  }
});

Deno.test("endpointToSocketPath() rejects a relative path with a UsageError", () => {
  for (const endpoint of ["a/b.sock", "containerd.sock", "unix:a/b.sock", "./x.sock", ""]) {
    assert.throws(
      () => endpointToSocketPath(endpoint),
      (error: unknown) => {
        assert.ok(error instanceof UsageError, `${JSON.stringify(endpoint)}: ${error}`);
        assert.match(error.message, /^Invalid runtime endpoint "/);
        return true;
      },
    );
  }
});

// --- crictlRuntimeEndpoint ---------------------------------------------------------------

Deno.test("crictlRuntimeEndpoint() reads runtime-endpoint from realistic crictl.yaml files", () => {
  const cases: [string, string, string | undefined][] = [
    [
      "kubeadm/containerd, as `crictl config` writes it",
      [
        "runtime-endpoint: unix:///run/containerd/containerd.sock",
        "image-endpoint: unix:///run/containerd/containerd.sock",
        "timeout: 10",
        "debug: false",
        "pull-image-on-create: false",
        "",
      ].join("\n"),
      "unix:///run/containerd/containerd.sock",
    ],
    [
      "double-quoted, other keys first",
      'image-endpoint: "unix:///var/run/crio/crio.sock"\ntimeout: 2\nruntime-endpoint: "unix:///var/run/crio/crio.sock"\n',
      "unix:///var/run/crio/crio.sock",
    ],
    [
      "single-quoted",
      "runtime-endpoint: 'unix:///run/k3s/containerd/containerd.sock'\n",
      "unix:///run/k3s/containerd/containerd.sock",
    ],
    [
      "trailing comment and spaces",
      "# managed by ansible\nruntime-endpoint: unix:///run/cri-dockerd.sock   # cri-dockerd\n",
      "unix:///run/cri-dockerd.sock",
    ],
    [
      "quoted with a trailing comment",
      'runtime-endpoint: "unix:///run/crio/crio.sock" # CRI-O\n',
      "unix:///run/crio/crio.sock",
    ],
    [
      "CRLF line ends",
      "timeout: 10\r\nruntime-endpoint: unix:///run/containerd/containerd.sock\r\n",
      "unix:///run/containerd/containerd.sock",
    ],
    [
      "a plain path",
      "runtime-endpoint: /run/containerd/containerd.sock\n",
      "/run/containerd/containerd.sock",
    ],
    [
      "commented-out key",
      "#runtime-endpoint: unix:///old.sock\n# runtime-endpoint: unix:///old.sock\nimage-endpoint: unix:///i.sock\n",
      undefined,
    ],
    [
      "absent key",
      "image-endpoint: unix:///run/containerd/containerd.sock\ntimeout: 10\n",
      undefined,
    ],
    ["empty value", "runtime-endpoint:\nimage-endpoint: unix:///i.sock\n", undefined],
    [
      "empty quoted value (`crictl config` default)",
      'runtime-endpoint: ""\ntimeout: 0\n',
      undefined,
    ],
    ["empty quoted value, single quotes", "runtime-endpoint: ''\n", undefined],
    [
      "an indented (nested) key is not the top-level key",
      "x:\n  runtime-endpoint: /n.sock\n",
      undefined,
    ],
    ["empty file", "", undefined],
  ];
  for (const [what, text, expected] of cases) {
    assert.equal(crictlRuntimeEndpoint(text), expected, what);
  }
});

Deno.test("crictlRuntimeEndpoint() treats a value that is only a comment as absent", () => {
  // YAML: `key: # comment` is null, so crictl sees no endpoint and falls back to its defaults.
  const text = "runtime-endpoint: # set by the installer\nimage-endpoint: unix:///i.sock\n";
  assert.equal(crictlRuntimeEndpoint(text), undefined);
  assert.equal(crictlRuntimeEndpoint("runtime-endpoint:   #\n"), undefined);
});

// --- endpointCandidates ------------------------------------------------------------------

const CRICTL = "runtime-endpoint: unix:///from/crictl.sock\n";

Deno.test("endpointCandidates() prefers flag over env over crictl.yaml over well-known", () => {
  assert.deepEqual(
    endpointCandidates({
      flag: "unix:///from/flag.sock",
      env: "/from/env.sock",
      crictlYaml: CRICTL,
      hostRoot: "/host",
    }),
    [{ path: "/from/flag.sock", source: "flag" }],
  );
  assert.deepEqual(
    endpointCandidates({ env: "unix:/from/env.sock", crictlYaml: CRICTL, hostRoot: "/host" }),
    [{ path: "/from/env.sock", source: "env" }],
  );
  assert.deepEqual(
    endpointCandidates({ crictlYaml: CRICTL, hostRoot: "/host" }),
    [{ path: "/from/crictl.sock", source: "crictl.yaml" }],
  );
  // An empty environment variable or crictl.yaml value is no override (as for crictl).
  const fallThrough = endpointCandidates({ env: "", crictlYaml: 'runtime-endpoint: ""' });
  assert.equal(fallThrough.length, WELL_KNOWN_ENDPOINTS.length);
  assert.ok(fallThrough.every((c) => c.source === "well-known"));
});

Deno.test("endpointCandidates() rejects an empty or pathless flag instead of falling back", () => {
  for (
    const [flag, message] of [
      ["", 'Invalid --runtime-endpoint "": expected unix:///path or /path'],
      [
        "unix://",
        'Invalid --runtime-endpoint "unix://": names no socket path, expected unix:///path or /path',
      ],
      ["/", 'Invalid --runtime-endpoint "/": names no socket path, expected unix:///path or /path'],
      [
        "unix:///run/",
        'Invalid --runtime-endpoint "unix:///run/": names no socket path, expected unix:///path or /path',
      ],
    ]
  ) {
    assert.throws(
      () => endpointCandidates({ flag: flag!, env: "/from/env.sock" }),
      (e: Error) => e instanceof UsageError && e.message === message,
      flag,
    );
  }
});

Deno.test("endpointCandidates() lists every well-known socket in table order by default", () => {
  const candidates = endpointCandidates({});
  assert.deepEqual(
    candidates,
    WELL_KNOWN_ENDPOINTS.map((k) => ({
      path: k.path,
      source: "well-known",
      kind: k.kind,
      usedBy: k.usedBy,
    })),
  );
  assert.equal(candidates[0]?.path, "/run/containerd/containerd.sock");
  const paths = candidates.map((c) => c.path);
  for (
    const expected of [
      "/run/crio/crio.sock",
      "/run/cri-dockerd.sock",
      "/run/k3s/containerd/containerd.sock",
      "/var/snap/microk8s/common/run/containerd.sock",
      "/run/docker.sock",
      "/var/run/docker.sock",
      "/run/podman/podman.sock",
      "/var/run/podman/podman.sock",
    ]
  ) {
    assert.ok(paths.includes(expected), expected);
  }
  // CRI sockets first: on a Kubernetes node the CRI runtime knows the pods.
  const kinds = candidates.map((c) => c.kind);
  assert.equal(kinds.lastIndexOf("cri") < kinds.indexOf("docker"), true);
  assert.equal(new Set(paths).size, paths.length, "no duplicates");
});

Deno.test("endpointCandidates() prefixes every well-known path with hostRoot, never the override", () => {
  for (const hostRoot of ["/host", "/host/"]) {
    const candidates = endpointCandidates({ hostRoot });
    assert.equal(candidates.length, WELL_KNOWN_ENDPOINTS.length);
    candidates.forEach((candidate, i) => {
      assert.equal(candidate.path, `/host${WELL_KNOWN_ENDPOINTS[i]!.path}`, hostRoot);
    });
  }
  for (
    const settings of [
      { flag: "/run/x.sock" },
      { env: "unix:///run/x.sock" },
      { crictlYaml: "runtime-endpoint: unix:///run/x.sock\n" },
    ]
  ) {
    assert.deepEqual(
      endpointCandidates({ ...settings, hostRoot: "/host" }).map((c) => c.path),
      ["/run/x.sock"],
      JSON.stringify(settings),
    );
  }
});

Deno.test("endpointCandidates() throws a UsageError for a non-unix override", () => {
  assert.throws(() => endpointCandidates({ flag: "tcp://10.0.0.1:1234" }), UsageError);
  assert.throws(() => endpointCandidates({ env: "relative.sock" }), UsageError);
  assert.throws(
    () => endpointCandidates({ crictlYaml: "runtime-endpoint: npipe:////./pipe/containerd\n" }),
    UsageError,
  );
});

Deno.test("crictlYamlPath() is /etc/crictl.yaml under the host root", () => {
  assert.equal(crictlYamlPath(), "/etc/crictl.yaml");
  assert.equal(crictlYamlPath("/host"), "/host/etc/crictl.yaml");
});

Deno.test("dockerHostPath() takes unix sockets only", () => {
  const cases: [string | undefined, string | undefined][] = [
    ["unix:///run/user/1000/docker.sock", "/run/user/1000/docker.sock"],
    ["unix:///var/run/docker.sock", "/var/run/docker.sock"],
    ["tcp://10.0.0.1:2376", undefined], // another machine's daemon
    ["ssh://me@host", undefined],
    ["unix://", undefined],
    ["unix:///run/", undefined],
    ["/run/docker.sock", undefined], // the Docker CLI needs the scheme too
    ["", undefined],
    [undefined, undefined],
  ];
  for (const [value, expected] of cases) {
    assert.equal(dockerHostPath(value), expected, String(value));
  }
});

Deno.test("endpointCandidates() tries DOCKER_HOST's socket after the CRI ones, before Docker's, never under hostRoot", () => {
  const candidates = endpointCandidates({
    dockerHost: "unix:///tmp/d/docker.sock",
    hostRoot: "/host",
  });
  const index = candidates.findIndex((c) => c.source === "DOCKER_HOST");
  assert.deepEqual(candidates[index], {
    path: "/tmp/d/docker.sock",
    source: "DOCKER_HOST",
    kind: "docker",
  });
  assert.ok(candidates.slice(0, index).every((c) => c.kind === "cri"));
  assert.deepEqual(candidates.slice(index + 1).map((c) => [c.kind, c.path]), [
    ["docker", "/host/run/docker.sock"],
    ["docker", "/host/var/run/docker.sock"],
    ["podman", "/host/run/podman/podman.sock"],
    ["podman", "/host/var/run/podman/podman.sock"],
  ]);
  // An override names the one runtime to use: DOCKER_HOST is not tried beside it.
  assert.deepEqual(
    endpointCandidates({ flag: "/x.sock", dockerHost: "unix:///tmp/d/docker.sock" }),
    [{ path: "/x.sock", source: "flag" }],
  );
  assert.equal(
    endpointCandidates({ dockerHost: "tcp://10.0.0.1:2376" }).length,
    WELL_KNOWN_ENDPOINTS.length,
  );
});

Deno.test("endpointCandidates() tries rootless Podman's socket in XDG_RUNTIME_DIR last, never under hostRoot", () => {
  const candidates = endpointCandidates({ xdgRuntimeDir: "/run/user/1000", hostRoot: "/host" });
  assert.equal(candidates.length, WELL_KNOWN_ENDPOINTS.length + 1);
  assert.deepEqual(candidates.at(-1), {
    path: "/run/user/1000/podman/podman.sock",
    source: "well-known",
    kind: "podman",
    usedBy: "Podman (rootless)",
  });
  for (const xdgRuntimeDir of ["", "relative/dir", undefined]) {
    assert.equal(
      endpointCandidates({ ...(xdgRuntimeDir !== undefined ? { xdgRuntimeDir } : {}) }).length,
      WELL_KNOWN_ENDPOINTS.length,
      String(xdgRuntimeDir),
    );
  }
  // An override names the one runtime to use.
  assert.deepEqual(
    endpointCandidates({ flag: "/x.sock", xdgRuntimeDir: "/run/user/1000" }),
    [{ path: "/x.sock", source: "flag" }],
  );
});
