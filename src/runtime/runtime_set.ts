/**
 * Every runtime of the node behind one {@linkcode ContainerSource}: a Kubernetes node's CRI
 * runtime beside a Docker Engine, each asked concurrently with its own deadline, so a hung
 * socket delays nothing beyond that deadline and never hides the others' containers.
 *
 * **One container, one runtime.** A container several runtimes list (cri-dockerd's through
 * CRI and through the Engine API) is answered by the runtime its cgroup path designates, as
 * the kernel shows it (`/proc/<pid>/cgroup` of its init, else the path the runtime records):
 * a kubelet pod cgroup (`kubepods…`) or containerd's and CRI-O's own layouts → the CRI
 * runtime; dockerd's `/docker/<id>` or `docker-<id>.scope` outside any pod → the Docker
 * Engine (each kind's `owns` in `runtime_kinds.ts`). When no runtime's kind claims the path
 * (an unknown layout, no path at all), or its claimant did not answer, the first runtime in
 * discovery order that lists it answers (CRI sockets come first). Never whichever answered
 * first: the choice depends on what answered, not on when.
 *
 * @module
 */
import type { ContainerSource, RuntimeClient, SandboxRecord } from "./client.ts";
import type { ContainerRecord } from "./record.ts";
import { cgroupSegments, containerCandidates } from "./cgroup.ts";
import { runtimeKind } from "./runtime_kinds.ts";
import { errorMessage, NotFoundError, RuntimeUnavailableError } from "../errors.ts";
import { DEFAULT_CRI_TIMEOUT_MS } from "./cri_client.ts";

/** Options of {@linkcode RuntimeSet}. */
export interface RuntimeSetOptions {
  /**
   * Deadline of each runtime's whole answer (a listing, a lookup), in milliseconds; each of
   * its calls has its own deadline too. Default 3000.
   */
  timeoutMs?: number;
  /**
   * Told when a runtime fails while the others answer: once, until it answers again.
   * (When every runtime fails, the call throws instead.)
   */
  onUnavailable?: (member: RuntimeClient, error: Error) => void;
  /**
   * Runtimes found at discovery that did not answer in time (hung, not gone: a socket that
   * accepts and stays silent), each as messages name it: `Docker Engine at unix:///x`.
   * Their containers may exist, so what the set does not list is not proven absent.
   */
  silentAtStart?: readonly string[];
}

/**
 * Whether `member`'s kind claims the container or sandbox `id` whose cgroup paths are
 * `paths` (see the module doc).
 */
export function claims(member: RuntimeClient, id: string, paths: readonly string[]): boolean {
  const owns = runtimeKind(member.kind)?.owns;
  if (!owns) return false;
  return paths.some((path) => {
    const segments = cgroupSegments(path);
    if (!segments) return false;
    const ref = containerCandidates(segments).find((c) => c.containerId === id);
    return ref !== undefined && owns(ref, segments);
  });
}

/** What one runtime said: a value, nothing (it does not know the id), or an error. */
type Answer<T> = { member: RuntimeClient; value?: T; error?: Error };

/**
 * The node's runtimes, in discovery order, as one source of containers.
 *
 * @example
 * ```ts
 * using all = new RuntimeSet([containerd, docker], { onUnavailable: (m, e) => warn(m, e) });
 * const records = await all.list(); // each container once, by the runtime that owns it
 * ```
 */
export class RuntimeSet implements ContainerSource {
  /** The runtimes, in discovery order. */
  readonly members: readonly RuntimeClient[];
  readonly #timeoutMs: number;
  readonly #onUnavailable: RuntimeSetOptions["onUnavailable"];
  /** Which runtime answers each container id seen so far. */
  readonly #owners = new Map<string, RuntimeClient>();
  /** Runtimes that failed and were reported, until they answer again. */
  readonly #failing = new Set<RuntimeClient>();
  readonly #silentAtStart: readonly string[];

  /**
   * @param members the connected runtimes, in discovery order (closed with the set)
   * @throws {RangeError} when `members` is empty
   */
  constructor(members: readonly RuntimeClient[], options: RuntimeSetOptions = {}) {
    if (members.length === 0) throw new RangeError("A runtime set needs at least one runtime");
    this.members = members;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_CRI_TIMEOUT_MS;
    this.#onUnavailable = options.onUnavailable;
    this.#silentAtStart = options.silentAtStart ?? [];
  }

  /**
   * The runtimes whose containers the last answers may lack: those silent at discovery, and
   * members whose last call failed (after {@linkcode list}: those left out of it), each as
   * `Docker Engine at unix:///x` / `docker runtime at unix:///x`. Empty when every runtime
   * found answered: then a container not listed is in none of them, and a name listed once
   * is unique.
   */
  unanswered(): string[] {
    return [
      ...this.#silentAtStart,
      ...[...this.#failing].map((member) => `${member.kind} runtime at ${member.endpoint}`),
    ];
  }

  /**
   * Why "no such container" cannot be proven, one clause for messages (`Docker Engine at
   * unix:///x did not answer; raise --timeout, …`), or undefined when every runtime found
   * answered (see {@linkcode unanswered}).
   */
  unansweredHint(): string | undefined {
    return unansweredHint(this.unanswered());
  }

  /** The endpoints, each once, for messages: `unix:///a, unix:///b`. */
  describe(): string {
    // A containerd socket is two members (its CRI and its own API): named once.
    return [...new Set(this.members.map((m) => m.endpoint))].join(", ");
  }

  /**
   * Every runtime's containers, each once (see the module doc). A runtime that fails or
   * misses its deadline is reported through `onUnavailable` and left out.
   * @throws {RuntimeUnavailableError|PermissionError} when every runtime fails (the first's
   *   error, in discovery order)
   */
  async list(): Promise<ContainerRecord[]> {
    const answers = await Promise.all(
      this.members.map((member) => this.#ask(member, member.list())),
    );
    const listed = this.#answered(answers);
    const byId = new Map<string, Answer<ContainerRecord>[]>();
    for (const { member, value } of listed) {
      for (const record of value ?? []) {
        byId.set(record.id, [...(byId.get(record.id) ?? []), { member, value: record }]);
      }
    }
    const records: ContainerRecord[] = [];
    for (const [id, candidates] of byId) {
      const chosen = this.#choose(id, candidates, recordPaths);
      this.#owners.set(id, chosen.member);
      records.push(chosen.value!);
    }
    return records;
  }

  /**
   * One container by full id, from the runtime that owns it. Returns as soon as a runtime
   * whose kind claims the container answers; otherwise waits for every runtime (each within
   * its deadline).
   * @throws {NotFoundError} when no runtime has it
   * @throws {RuntimeUnavailableError|PermissionError} when none has it and one failed
   */
  async get(id: string): Promise<ContainerRecord> {
    const found = await this.#lookup(id, (member) => member.get(id), recordPaths);
    if (!found) throw new NotFoundError(`Cannot find container "${id}" in the runtime`);
    this.#owners.set(id, found.member);
    return found.value!;
  }

  /** Asked of the runtime that answered {@linkcode get} or {@linkcode list} for `id`. */
  async finishedAtNs(id: string): Promise<bigint | undefined> {
    if (!this.#owners.has(id)) await this.get(id);
    return await this.#deadline(this.#owners.get(id)!, this.#owners.get(id)!.finishedAtNs(id));
  }

  /** The pod sandbox `id` from the runtime that owns it (by its cgroup), if any lists it. */
  async sandbox(id: string): Promise<SandboxRecord | undefined> {
    const found = await this.#lookup(
      id,
      async (member) => {
        const sandbox = await member.sandbox(id);
        if (!sandbox) throw new NotFoundError(`Cannot find pod sandbox "${id}" in the runtime`);
        return sandbox;
      },
      (sandbox) => sandbox.cgroupPaths,
    );
    return found?.value;
  }

  /**
   * Every runtime's running pod sandboxes (of those that have any), each once. A runtime
   * that fails or misses its deadline is reported and left out.
   */
  async sandboxes(): Promise<SandboxRecord[]> {
    const answers = await Promise.all(
      this.members.filter((member) => member.sandboxes).map((member) =>
        this.#ask(member, member.sandboxes!())
      ),
    );
    const byId = new Map<string, SandboxRecord>();
    for (const { value } of answers) {
      for (const sandbox of value ?? []) if (!byId.has(sandbox.id)) byId.set(sandbox.id, sandbox);
    }
    return [...byId.values()];
  }

  /** Closes every runtime. */
  close(): void {
    for (const member of this.members) member.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Asks every runtime for `id` at once: the first answer its kind claims wins at once,
   * else, once all answered, {@linkcode #choose} decides among those that know it.
   */
  #lookup<T>(
    id: string,
    ask: (member: RuntimeClient) => Promise<T>,
    paths: (value: T) => readonly string[],
  ): Promise<Answer<T> | undefined> {
    return new Promise((resolve, reject) => {
      const answers: Answer<T>[] = new Array(this.members.length);
      let pending = this.members.length;
      let done = false;
      this.members.forEach((member, index) => {
        const asked = this.#ask<T>(
          member,
          ask(member).catch((error): T | undefined => {
            if (error instanceof NotFoundError) return undefined;
            throw error;
          }),
        );
        asked.then((answer) => {
          answers[index] = answer;
          if (done) return;
          if (answer.value !== undefined && claims(member, id, paths(answer.value))) {
            done = true;
            return resolve(answer);
          }
          if (--pending > 0) return;
          done = true;
          const known = answers.filter((a) => a.value !== undefined);
          if (known.length > 0) return resolve(this.#choose(id, known, paths));
          const failed = answers.find((a) => a.error);
          if (failed) return reject(failed.error);
          resolve(undefined);
        });
      });
    });
  }

  /** Among the runtimes that know `id` (discovery order), the one that owns it. */
  #choose<T>(
    id: string,
    candidates: Answer<T>[],
    paths: (value: T) => readonly string[],
  ): Answer<T> {
    return candidates.find((c) => claims(c.member, id, paths(c.value!))) ?? candidates[0]!;
  }

  /** The answers of those that answered; throws the first error when none did. */
  #answered<T>(answers: Answer<T>[]): Answer<T>[] {
    const ok = answers.filter((a) => !a.error);
    if (ok.length === 0) throw answers[0]!.error;
    return ok;
  }

  /** `work`'s outcome within the deadline, failures reported once per runtime. */
  async #ask<T>(member: RuntimeClient, work: Promise<T | undefined>): Promise<Answer<T>> {
    try {
      const value = await this.#deadline(member, work);
      this.#failing.delete(member);
      return value === undefined ? { member } : { member, value };
    } catch (error) {
      const wrapped = error instanceof Error ? error : new Error(errorMessage(error));
      if (!this.#failing.has(member)) {
        this.#failing.add(member);
        if (this.members.length > 1) this.#onUnavailable?.(member, wrapped);
      }
      return { member, error: wrapped };
    }
  }

  async #deadline<T>(member: RuntimeClient, work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RuntimeUnavailableError(
              `Runtime "${member.socketPath}" did not answer within ${this.#timeoutMs} ms`,
            ),
          ),
        this.#timeoutMs,
      );
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function recordPaths(record: ContainerRecord): string[] {
  return record.cgroup_path === null ? [] : [record.cgroup_path];
}

/**
 * `runtimes` did not answer, and what to do, as one clause; undefined when none is named.
 * @param runtimes as {@linkcode RuntimeSet.unanswered} gives them.
 */
export function unansweredHint(runtimes: readonly string[]): string | undefined {
  if (runtimes.length === 0) return undefined;
  return `${
    runtimes.join(", ")
  } did not answer; raise --timeout, or name one runtime with --runtime-endpoint`;
}
