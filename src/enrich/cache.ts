/**
 * The enrichment cache: mount namespace serial → what the namespace belongs to and whether
 * it is selected.
 *
 * Keyed by the serial the kernel never reuses (`mntnsSeq`), so an entry can never describe
 * a later namespace that got the same inode number. Each new namespace is resolved once
 * (concurrent lookups share one promise), never once per event, and each verdict is pushed
 * to the kernel's filter map through `onVerdict`, so the kernel stops sending events of
 * unselected namespaces. A namespace that could not be resolved is not cached: its next
 * event tries again.
 *
 * @module
 */
import type { ContainerRecord, PodRecord } from "../runtime/record.ts";
import { type ContainerSelector, matchesPod, matchesSelector } from "../runtime/selector.ts";
import type { ContainerResolver, NamespaceFacts } from "./resolver.ts";

/** What the cache knows of one mount namespace. */
export interface NamespaceEntry {
  /** The container; null for a pod sandbox's process and for no container's. */
  record: ContainerRecord | null;
  /** The pod: the container's, or the sandbox's; null for no container's. */
  pod: PodRecord | null;
  /** True for processes of the pod sandbox itself (pause): the pod's, with no container. */
  sandbox: boolean;
  /** Whether events of this namespace are printed. */
  selected: boolean;
  /**
   * A container's cgroup by its layout whose container the runtime does not confirm
   * (removed already, or another runtime's): printed flagged unresolved with `--all` or
   * `--host`, never under a named selection.
   */
  unconfirmed: boolean;
  /**
   * For a namespace several running containers' inits hold: each container by its cgroup id
   * (the v2 id events carry), with whether it is selected. `record` and `pod` are null then;
   * an event goes to the container its cgroup id names, or is unproven.
   */
  shared?: Map<bigint, { record: ContainerRecord; selected: boolean }>;
  /** The namespace's inode number, to tell when no process uses it any more. */
  mntnsId: bigint;
  /** How it was resolved (`--debug`). */
  proof: string;
}

/** Called once per decided namespace: true = allow in the kernel, false = deny. */
export type VerdictSink = (mntnsSeq: bigint, allow: boolean, entry: NamespaceEntry) => void;

/** Options of {@linkcode EnrichmentCache}. */
export interface CacheOptions {
  /** Which containers are traced; null selects none (`--host` alone). */
  selector: ContainerSelector | null;
  /** Print processes that are in no container (`--host`). */
  includeHost: boolean;
  /** Print processes of unconfirmed container cgroups, flagged (`--all`, `--host`). */
  includeUnconfirmed?: boolean;
  onVerdict: VerdictSink;
  /** Called when a namespace is dropped, to drop its kernel verdict too. */
  onForget?: (mntnsSeq: bigint) => void;
}

/** mntns serial → entry, with at most one resolution in flight per namespace. */
export class EnrichmentCache {
  readonly #entries = new Map<bigint, NamespaceEntry>();
  readonly #pending = new Map<bigint, Promise<NamespaceEntry | undefined>>();
  readonly #resolver: ContainerResolver;
  readonly #options: CacheOptions;
  /** Resolutions started (for the summary and tests: one per new namespace). */
  resolutions = 0;

  constructor(resolver: ContainerResolver, options: CacheOptions) {
    this.#resolver = resolver;
    this.#options = options;
  }

  /** The entry of a namespace, when decided. Synchronous: the per-event hot path. */
  lookup(mntnsSeq: bigint): NamespaceEntry | undefined {
    return this.#entries.get(mntnsSeq);
  }

  /**
   * Resolves a namespace once. Resolves to undefined when nothing could be established (the
   * events stay unresolved); rejects on CRI transport errors.
   */
  resolve(facts: NamespaceFacts): Promise<NamespaceEntry | undefined> {
    const seq = facts.mntnsSeq;
    const known = this.#entries.get(seq);
    if (known) return Promise.resolve(known);
    let pending = this.#pending.get(seq);
    if (!pending) {
      this.resolutions++;
      pending = this.#resolver.resolve(facts).then((resolution) => {
        this.#pending.delete(seq);
        switch (resolution.kind) {
          case "unresolved":
            return undefined;
          case "container":
            return this.#decide(seq, {
              record: resolution.record,
              pod: resolution.record.pod,
              sandbox: false,
              unconfirmed: false,
              mntnsId: facts.mntnsId,
              proof: resolution.proof,
            });
          case "sandbox":
            return this.#decide(seq, {
              record: null,
              pod: resolution.pod,
              sandbox: true,
              unconfirmed: false,
              mntnsId: facts.mntnsId,
              proof: resolution.proof,
            });
          case "shared":
            return this.#decide(seq, {
              record: null,
              pod: null,
              sandbox: false,
              unconfirmed: false,
              mntnsId: facts.mntnsId,
              proof: resolution.proof,
              shared: new Map(
                resolution.records.filter((r) => r.cgroup_id !== null).map((r) => [
                  BigInt(r.cgroup_id!),
                  { record: r, selected: this.#selects(r) },
                ]),
              ),
            });
          case "none":
          case "unconfirmed":
            return this.#decide(seq, {
              record: null,
              pod: null,
              sandbox: false,
              unconfirmed: resolution.kind === "unconfirmed",
              mntnsId: facts.mntnsId,
              proof: resolution.reason,
            });
        }
      }, (error) => {
        this.#pending.delete(seq);
        throw error;
      });
      this.#pending.set(seq, pending);
    }
    return pending;
  }

  /** Drops a namespace (it ended) and its kernel verdict. */
  forget(mntnsSeq: bigint): void {
    if (this.#entries.delete(mntnsSeq)) this.#options.onForget?.(mntnsSeq);
  }

  /**
   * Drops every decided namespace whose inode number no process uses (`inUse`): such a
   * namespace has ended, so neither this cache nor the kernel's verdict map grows without
   * bound on a node where namespaces come and go. Safe even when the inode number has been
   * reused meanwhile: entries are keyed by serial, and dropping one only costs a new
   * lookup. Returns how many were dropped.
   */
  sweep(inUse: ReadonlySet<bigint> | ReadonlyMap<bigint, unknown>): number {
    let dropped = 0;
    for (const [seq, entry] of [...this.#entries]) {
      if (!inUse.has(entry.mntnsId) && !this.#pending.has(seq)) {
        this.forget(seq);
        dropped++;
      }
    }
    return dropped;
  }

  #selects(record: ContainerRecord): boolean {
    const { selector } = this.#options;
    return selector !== null && matchesSelector(record, { ...selector, includeStopped: true });
  }

  #decide(seq: bigint, facts: Omit<NamespaceEntry, "selected">): NamespaceEntry {
    const { selector, includeHost } = this.#options;
    let selected: boolean;
    if (facts.shared) {
      // Sent by the kernel when any of them is selected; the pipeline picks per event.
      selected = [...facts.shared.values()].some((c) => c.selected) ||
        (this.#options.includeUnconfirmed ?? false);
    } else if (facts.record) {
      selected = this.#selects(facts.record);
    } else if (facts.pod) {
      selected = selector !== null && matchesPod(facts.pod, selector);
    } else if (facts.unconfirmed) {
      selected = this.#options.includeUnconfirmed ?? false;
    } else {
      selected = includeHost;
    }
    const entry: NamespaceEntry = { ...facts, selected };
    this.#entries.set(seq, entry);
    this.#options.onVerdict(seq, selected, entry);
    return entry;
  }
}
