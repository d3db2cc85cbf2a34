/**
 * The enrichment cache: mount namespace id → container record and whether it is selected.
 *
 * Seeded from one inventory listing at start; each unknown namespace is then resolved once
 * (concurrent lookups of the same namespace share one promise), never once per event. Each
 * verdict is pushed to the kernel's filter map through `onVerdict`, so the kernel stops
 * sending events of unselected containers.
 *
 * @module
 */
import type { ContainerRecord } from "../runtime/record.ts";
import { type ContainerSelector, matchesSelector } from "../runtime/selector.ts";
import type { ContainerResolver, Resolution } from "./resolver.ts";

/** What the cache knows of one mount namespace. */
export interface NamespaceEntry {
  /** The container, or null for a namespace that is no container's. */
  record: ContainerRecord | null;
  /** Whether events of this namespace are printed. */
  selected: boolean;
  /**
   * When the verdict reached the kernel (CLOCK_BOOTTIME ns), if a clock was given. A sample
   * flagged "unknown" that is younger than this means the kernel dropped the verdict since
   * (the namespace died and its id may belong to a new one): the entry is stale.
   */
  decidedAtBootNs?: bigint;
}

/** Called once per decided namespace: true = allow in the kernel, false = deny. */
export type VerdictSink = (mntnsId: bigint, allow: boolean, record: ContainerRecord | null) => void;

/** Options of {@linkcode EnrichmentCache}. */
export interface CacheOptions {
  /** Which containers are traced; null selects none (`--host` alone). */
  selector: ContainerSelector | null;
  /** Print processes that are in no container (`--host`). */
  includeHost: boolean;
  onVerdict: VerdictSink;
  /** Called when a namespace is dropped, to drop its kernel verdict too. */
  onForget?: (mntnsId: bigint) => void;
  /** CLOCK_BOOTTIME now, in ns (the clock of the samples' `tsBootNs`). */
  bootClockNs?: () => bigint;
}

/** mntns id → entry, with at most one resolution in flight per namespace. */
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

  /** Decides every running container of a listing (startup). Returns the selected ones. */
  seed(records: readonly ContainerRecord[]): ContainerRecord[] {
    const selected: ContainerRecord[] = [];
    for (const record of records) {
      if (record.mntns_id === null) continue;
      const entry = this.#decide(BigInt(record.mntns_id), record);
      if (entry.selected) selected.push(record);
    }
    return selected;
  }

  /** The entry of a namespace, when decided. Synchronous: the per-event hot path. */
  lookup(mntnsId: bigint): NamespaceEntry | undefined {
    return this.#entries.get(mntnsId);
  }

  /**
   * Resolves a namespace seen from process `pid`, once. Resolves to undefined when the
   * process vanished and no container matches (the events stay unresolved); rejects on CRI
   * transport errors.
   */
  resolve(mntnsId: bigint, pid: number): Promise<NamespaceEntry | undefined> {
    const known = this.#entries.get(mntnsId);
    if (known) return Promise.resolve(known);
    let pending = this.#pending.get(mntnsId);
    if (!pending) {
      this.resolutions++;
      pending = this.#resolver.resolve(pid, mntnsId).then((resolution: Resolution) => {
        this.#pending.delete(mntnsId);
        if (resolution.kind === "gone") return undefined;
        return this.#decide(mntnsId, resolution.kind === "container" ? resolution.record : null);
      }, (error) => {
        this.#pending.delete(mntnsId);
        throw error;
      });
      this.#pending.set(mntnsId, pending);
    }
    return pending;
  }

  /** Drops a namespace (its container ended: the id may be reused by the kernel). */
  forget(mntnsId: bigint): void {
    if (this.#entries.delete(mntnsId)) this.#options.onForget?.(mntnsId);
  }

  /**
   * Drops every decided namespace that is not in `inUse` (no process lives in it any
   * more), so neither this cache nor the kernel's verdict map (16 384 entries) grows without
   * bound on a node where namespaces come and go (containers, services with private mounts).
   * Returns how many were dropped.
   */
  sweep(inUse: ReadonlySet<bigint> | ReadonlyMap<bigint, unknown>): number {
    let dropped = 0;
    for (const id of [...this.#entries.keys()]) {
      if (!inUse.has(id) && !this.#pending.has(id)) {
        this.forget(id);
        dropped++;
      }
    }
    return dropped;
  }

  #decide(mntnsId: bigint, record: ContainerRecord | null): NamespaceEntry {
    const { selector, includeHost } = this.#options;
    const selected = record
      ? selector !== null && matchesSelector(record, { ...selector, includeStopped: true })
      : includeHost;
    const entry: NamespaceEntry = { record, selected };
    this.#entries.set(mntnsId, entry);
    this.#options.onVerdict(mntnsId, selected, record);
    if (this.#options.bootClockNs) entry.decidedAtBootNs = this.#options.bootClockNs();
    return entry;
  }
}
