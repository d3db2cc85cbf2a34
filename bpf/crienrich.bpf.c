// SPDX-License-Identifier: GPL-2.0
/*
 * crienrich's kernel half: one event per exec and per process exit, and on request per
 * TCP connect/accept/close and per openat, filtered by mount namespace in the kernel so
 * that an unselected container costs one hash lookup per event.
 *
 * Tracepoints only (kprobes and fentry may be compiled out on nodes): sched_process_exec
 * and sched_process_exit (include/trace/events/sched.h), sock:inet_sock_set_state
 * (include/trace/events/sock.h) and the syscalls' enter/exit tracepoints are stable ABI. Kernel structs
 * are read with CO-RE (BPF_CORE_READ), so one object runs on every kernel with BTF.
 * Layout of what is sent: event.h. Build: scripts/bpf_build.sh.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "event.h"

char LICENSE[] SEC("license") = "GPL";

/* Written by user space between open and load; see struct crienrich_config. */
const volatile struct crienrich_config crienrich_config = {};

/* The output: one perf ring per CPU, read by user space with libbpf's perf_buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/*
 * Mount namespace serial (`mntns_seq`, never reused) -> verdict, filled by user space.
 * Hash, not LRU: an LRU could silently turn a DENY back into "unknown". Entries of ended
 * namespaces are dropped by the exit program and by user space's sweep.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, enum crienrich_verdict);
} mntns_verdict SEC(".maps");

/*
 * The event is 1376 bytes: too big for the 512-byte BPF stack, so built here. `args` past
 * args_size still holds an earlier exec's argv; samples end at args_size, so it is not sent.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct crienrich_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct crienrich_cgroup_sample);
} cgroup_scratch SEC(".maps");

/*
 * Samples bpf_perf_event_output() could not write, per CPU (the ring was full), by kind:
 * key CRIENRICH_FAILED_EVENTS (exec and exit events), CRIENRICH_FAILED_CGROUP_SAMPLES.
 * The kernel reports a CPU's dropped samples to the reader only with that CPU's next
 * sample; these counts are exact at any time, so user space reconciles with them.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, enum crienrich_failed_kind);
	__type(value, __u64);
} output_failures SEC(".maps");

/*
 * Mount namespace serials whose cgroup sample was written: one per namespace is enough
 * (user space keeps it until the namespace is resolved), which keeps a storm of events in
 * a just-started container from carrying 1.6 KiB each. LRU: an evicted entry only costs
 * one more sample.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} cgroup_sent SEC(".maps");

/* Writes a sample; returns false (and counts it under `kind`) when the ring was full. */
static __always_inline bool output(void *ctx, void *data, __u64 size,
				   enum crienrich_failed_kind kind)
{
	__u64 *failures;

	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, data, size) == 0)
		return true;
	failures = bpf_map_lookup_elem(&output_failures, &kind);
	if (failures)
		*failures += 1;
	return false;
}

static __always_inline __u64 task_mntns_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/*
 * The serial number of a mount namespace, which the kernel never hands out twice (unlike
 * its inode number): `ns_common.ns_id` since Linux 6.18 ("ns: add ns_common id"), before
 * that `mnt_namespace.seq`, a counter in fs/namespace.c since Linux 3.x that is also
 * what NS_GET_MNTNS_ID returns (6.9+). CO-RE picks whichever this kernel has.
 */
struct ns_common___with_id {
	u64 ns_id;
} __attribute__((preserve_access_index));
struct mnt_namespace___with_seq {
	u64 seq;
} __attribute__((preserve_access_index));

static __always_inline __u64 task_mntns_seq(struct task_struct *task)
{
	struct mnt_namespace *mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	struct ns_common___with_id *ns = (void *)&mnt_ns->ns;
	struct mnt_namespace___with_seq *old = (void *)mnt_ns;

	if (!mnt_ns)
		return 0;
	if (bpf_core_field_exists(ns->ns_id))
		return BPF_CORE_READ(ns, ns_id);
	return BPF_CORE_READ(old, seq);
}

/* Deepest PID namespace level looked at: a kind node inside a kind node is level 2. */
#define CRIENRICH_PIDNS_LEVELS 8

/*
 * The number of `pid` in the PID namespace whose inode is `pidns_inum`, or 0 when the pid
 * is not visible there (it lives outside that namespace and its descendants). struct pid
 * keeps one number per level, from the initial namespace (0) down to its own (`level`).
 */
static __always_inline __u32 pid_nr_in(struct pid *pid, __u32 pidns_inum)
{
	unsigned int level;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	for (int i = 0; i < CRIENRICH_PIDNS_LEVELS; i++) {
		if (i > level)
			break;
		if (BPF_CORE_READ(pid, numbers[i].ns, ns.inum) == pidns_inum)
			return BPF_CORE_READ(pid, numbers[i].nr);
	}
	return 0;
}

/*
 * Task id, process id and parent's process id as the traced PID namespace sees them
 * (config.pidns_inum), or as the host does. Returns false when the task is not in that
 * namespace: it is not traced.
 */
static __always_inline bool task_ids(struct task_struct *task, __u32 *pid, __u32 *tgid,
				     __u32 *ppid)
{
	__u32 target = crienrich_config.pidns_inum;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!target) {
		*pid = (__u32)pid_tgid;
		*tgid = pid_tgid >> 32;
		*ppid = BPF_CORE_READ(task, real_parent, tgid);
		return true;
	}
	*pid = pid_nr_in(BPF_CORE_READ(task, thread_pid), target);
	if (!*pid)
		return false;
	*tgid = pid_nr_in(BPF_CORE_READ(task, group_leader, thread_pid), target);
	*ppid = pid_nr_in(BPF_CORE_READ(task, real_parent, group_leader, thread_pid), target);
	return true;
}

/*
 * The namespace reference count was renamed from `count` to `__ns_ref` (Linux 6.18,
 * "ns: rename to __ns_ref"); these flavors let CO-RE pick whichever this kernel has.
 */
struct ns_common___new {
	refcount_t __ns_ref;
} __attribute__((preserve_access_index));
struct ns_common___old {
	refcount_t count;
} __attribute__((preserve_access_index));

/*
 * True when `task` is the last user of its mount namespace: nobody else shares its nsproxy
 * and no other nsproxy (nor an open /proc/PID/ns/mnt) holds the namespace. The namespace
 * ends with the task, so its verdict is dropped to keep the map small (verdicts are keyed
 * by the never-reused serial, so a leftover one is only memory). A race between two last
 * tasks can miss one; user space also sweeps namespaces no process uses.
 */
static __always_inline bool last_mntns_user(struct task_struct *task)
{
	struct nsproxy *nsproxy = BPF_CORE_READ(task, nsproxy);
	struct ns_common *ns;
	int refs;

	if (!nsproxy || BPF_CORE_READ(nsproxy, count.refs.counter) != 1)
		return false;
	ns = (struct ns_common *)&BPF_CORE_READ(nsproxy, mnt_ns)->ns;
	struct ns_common___new *ns_new = (void *)ns;
	struct ns_common___old *ns_old = (void *)ns;

	if (bpf_core_field_exists(ns_new->__ns_ref))
		refs = BPF_CORE_READ(ns_new, __ns_ref.refs.counter);
	else
		refs = BPF_CORE_READ(ns_old, count.refs.counter);
	return refs == 1;
}

/*
 * The filter rules: the host namespace follows trace_host, a known namespace its verdict,
 * an unknown one send_unknown (flagged so user space can resolve it and store a verdict).
 * Returns the flags to send with, or -1 to drop.
 */
static __always_inline int filter_flags(__u64 mntns_id, __u64 mntns_seq)
{
	enum crienrich_verdict *verdict;

	if (mntns_id == crienrich_config.host_mntns_id)
		return crienrich_config.trace_host ? 0 : -1;
	verdict = bpf_map_lookup_elem(&mntns_verdict, &mntns_seq);
	if (!verdict)
		return crienrich_config.send_unknown ? CRIENRICH_FLAG_MNTNS_UNKNOWN : -1;
	return *verdict == CRIENRICH_VERDICT_ALLOW ? 0 : -1;
}

/*
 * Sends the names of `task`'s cgroup and its ancestors (struct crienrich_cgroup_sample)
 * for the event `e` that follows: the v2 tree's (css_set->dfl_cgrp), or on a node without
 * one the v1 memory hierarchy's. A cgroup's parent is its `self` css's parent. `e` is any
 * event struct: the fields read are at the same offsets in each (event.h).
 */
static __always_inline void send_cgroup_sample(void *ctx, struct task_struct *task,
					       struct crienrich_event *e)
{
	struct crienrich_cgroup_sample *s;
	struct cgroup_subsys_state *parent;
	struct cgroup *cgrp;
	__u32 zero = 0, flags = 0;

	__u8 sent = 1;

	if (bpf_map_lookup_elem(&cgroup_sent, &e->mntns_seq))
		return;
	s = bpf_map_lookup_elem(&cgroup_scratch, &zero);
	if (!s)
		return;
	if (crienrich_config.cgroup_v1) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		if (id < 0 || id >= 12)
			return;
		cgrp = BPF_CORE_READ(task, cgroups, subsys[id], cgroup);
		flags |= CRIENRICH_CGROUP_V1;
	} else {
		cgrp = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	}
	s->ts_boot_ns = e->ts_boot_ns;
	s->cgroup_id = e->cgroup_id;
	s->mntns_id = e->mntns_id;
	s->mntns_seq = e->mntns_seq;
	s->_reserved = 0;
	s->type = CRIENRICH_EVENT_CGROUP;
	s->tgid = e->tgid;
	s->depth = 0;
	for (int i = 0; i < CRIENRICH_CGROUP_LEVELS; i++) {
		if (!cgrp)
			break;
		parent = BPF_CORE_READ(cgrp, self.parent);
		if (!parent) {
			/* cgrp is the root: the walk is complete, its empty name is not sent. */
			flags |= CRIENRICH_CGROUP_COMPLETE;
			break;
		}
		if (bpf_probe_read_kernel_str(s->names[i], sizeof(s->names[i]),
					      BPF_CORE_READ(cgrp, kn, name)) < 0)
			s->names[i][0] = '\0';
		s->ids[i] = BPF_CORE_READ(cgrp, kn, id);
		s->depth = i + 1;
		cgrp = BPF_CORE_READ(parent, cgroup);
	}
	if (cgrp && !(flags & CRIENRICH_CGROUP_COMPLETE) && !BPF_CORE_READ(cgrp, self.parent))
		flags |= CRIENRICH_CGROUP_COMPLETE;
	s->cgroup_flags = flags;
	if (output(ctx, s, sizeof(*s), CRIENRICH_FAILED_CGROUP_SAMPLES))
		bpf_map_update_elem(&cgroup_sent, &e->mntns_seq, &sent, BPF_ANY);
}

/* Fills what exec and exit share; `task` is the current task, ids from task_ids(). */
static __always_inline void fill_common(struct crienrich_event *e, struct task_struct *task,
					__u64 mntns_id, __u64 mntns_seq,
					enum crienrich_event_type type, __u32 pid, __u32 tgid,
					__u32 ppid)
{
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->mntns_id = mntns_id;
	e->mntns_seq = mntns_seq;
	e->type = type;
	e->pid = pid;
	e->tgid = tgid;
	e->ppid = ppid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/*
 * Whether the string a *_read_*_str() filled a whole buffer from ends right there: `at` is
 * its byte just past the buffer's last character. A full buffer is copied the same for a
 * string of exactly its size less one (not cut) and for a longer one (cut).
 */
static __always_inline bool string_ends_at(const void *at, bool user)
{
	char next = 1;

	if (user)
		bpf_probe_read_user(&next, 1, at);
	else
		bpf_probe_read_kernel(&next, 1, at);
	return next == '\0';
}

SEC("tracepoint/sched/sched_process_exec")
int crienrich_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct crienrich_event *e;
	unsigned long arg_start, arg_end, len;
	unsigned int filename_off;
	__u32 zero = 0, pid, tgid, ppid;
	__u64 mntns_id, mntns_seq;
	long copied;
	int flags;

	if (!crienrich_config.trace_exec)
		return 0;
	mntns_id = task_mntns_id(task);
	mntns_seq = task_mntns_seq(task);
	flags = filter_flags(mntns_id, mntns_seq);
	if (flags < 0)
		return 0;
	if (!task_ids(task, &pid, &tgid, &ppid))
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	fill_common(e, task, mntns_id, mntns_seq, CRIENRICH_EVENT_EXEC, pid, tgid, ppid);
	e->duration_ns = 0;
	e->exit_code = 0;
	e->exit_signal = 0;

	/* __data_loc: low 16 bits are the offset of the string from the record's start. */
	filename_off = ctx->__data_loc_filename & 0xFFFF;
	copied = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + filename_off);
	if (copied < 0)
		e->filename[0] = '\0';
	else if (copied == sizeof(e->filename) &&
		 !string_ends_at((void *)ctx + filename_off + sizeof(e->filename) - 1, false))
		flags |= CRIENRICH_FLAG_FILENAME_TRUNCATED;

	/* The new image's argv, as execve(2) copied it to the top of the new stack. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > CRIENRICH_ARGS_LEN) {
		len = CRIENRICH_ARGS_LEN;
		flags |= CRIENRICH_FLAG_ARGS_TRUNCATED;
	}
	/* Re-bound after the branch: clang may merge it into a form the verifier cannot follow. */
	barrier_var(len);
	if (len > CRIENRICH_ARGS_LEN)
		len = 0;
	if (bpf_probe_read_user(e->args, len, (void *)arg_start) < 0)
		len = 0;
	e->args_size = len;
	e->flags = flags;

	/*
	 * Send the head and the argv bytes used, not the whole struct (see event.h): a
	 * `/bin/true` exec is 354 bytes instead of 1368. The verifier must prove the size
	 * stays inside the map value, so bound it again where it is used: after the probe
	 * read's error branch clang may keep `len` in a form whose bounds the verifier lost.
	 */
	barrier_var(len);
	if (len > CRIENRICH_ARGS_LEN)
		len = 0;
	if (flags & CRIENRICH_FLAG_MNTNS_UNKNOWN)
		send_cgroup_sample(ctx, task, e);
	output(ctx, e, __builtin_offsetof(struct crienrich_event, args) + len, CRIENRICH_FAILED_EVENTS);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int crienrich_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct crienrich_event *e;
	__u32 zero = 0, pid, tgid, ppid;
	__u64 mntns_id, mntns_seq;
	int flags, code;

	mntns_id = task_mntns_id(task);
	mntns_seq = task_mntns_seq(task);
	flags = filter_flags(mntns_id, mntns_seq);
	/* Any thread may be the namespace's last: check before the whole-process filter. */
	if (last_mntns_user(task))
		bpf_map_delete_elem(&mntns_verdict, &mntns_seq);
	if (!crienrich_config.trace_exit)
		return 0;
	/* Whole processes only: the event fires for every thread. */
	if ((__u32)pid_tgid != pid_tgid >> 32)
		return 0;
	if (flags < 0)
		return 0;
	if (!task_ids(task, &pid, &tgid, &ppid))
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	fill_common(e, task, mntns_id, mntns_seq, CRIENRICH_EVENT_EXIT, pid, tgid, ppid);
	e->flags = flags;
	e->args_size = 0;
	/* wait(2) status encoding: WEXITSTATUS is bits 8-15, WTERMSIG bits 0-6. */
	code = BPF_CORE_READ(task, exit_code);
	e->exit_code = (code >> 8) & 0xff;
	e->exit_signal = code & 0x7f;
	/* task->start_time is CLOCK_MONOTONIC ns (fork.c), as is bpf_ktime_get_ns(). */
	e->duration_ns = bpf_ktime_get_ns() - BPF_CORE_READ(task, start_time);

	if (flags & CRIENRICH_FLAG_MNTNS_UNKNOWN)
		send_cgroup_sample(ctx, task, e);
	/* Exit events carry no strings: send the fixed head only (see event.h). */
	output(ctx, e, __builtin_offsetof(struct crienrich_event, filename), CRIENRICH_FAILED_EVENTS);
	return 0;
}

/* Address families (include/linux/socket.h); vmlinux.h has only enums. */
#define CRIENRICH_AF_INET 2
#define CRIENRICH_AF_INET6 10

/*
 * What the `sock_owner` map keeps per TCP socket of a traced task: the net event prefilled
 * with the owner's process fields (at connect(2) or accept(2), in the owner's context) and
 * the times later events measure from.
 */
struct crienrich_sock_owner {
	struct crienrich_net_event event;
	__u64 start_ns;       /* bpf_ktime_get_ns() at SYN_SENT or at accept */
	__u64 established_ns; /* at ESTABLISHED (connect) or at accept; 0 before */
};

/*
 * Socket (struct sock address) -> owner, for TCP sockets whose owner passed the filter.
 * Entries are deleted when the socket reaches CLOSE, which every TCP socket does before it
 * is freed, and when a socket at the same address starts a new life (crienrich_tcp); LRU
 * so that a missed one only ages out.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct crienrich_sock_owner);
} sock_owner SEC(".maps");

/* An openat(2) in flight: what its enter tracepoint saw, by thread (pid_tgid). */
struct crienrich_open_args {
	__u64 path_ptr; /* user-space address of the path argument */
	__u64 start_ns; /* bpf_ktime_get_ns() at enter */
	__u32 open_flags;
	__u32 open_mode;
	__u32 openat2;  /* 1 for openat2(2) */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct crienrich_open_args);
} open_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct crienrich_open_event);
} open_scratch SEC(".maps");

/*
 * The filter of a process-context event of the current task: the flags to send with
 * (filter_flags), or -1 to drop; fills the task's namespace and ids. crienrich's own
 * process (config.self_tgid) is always dropped.
 */
static __always_inline int current_task_filter(struct task_struct *task, __u64 *mntns_id,
					       __u64 *mntns_seq, __u32 *pid, __u32 *tgid,
					       __u32 *ppid)
{
	int flags;

	*mntns_id = task_mntns_id(task);
	*mntns_seq = task_mntns_seq(task);
	flags = filter_flags(*mntns_id, *mntns_seq);
	if (flags < 0)
		return -1;
	if (!task_ids(task, pid, tgid, ppid))
		return -1;
	if (*tgid == crienrich_config.self_tgid)
		return -1;
	return flags;
}

/*
 * The flags to send a stored owner's event with, or -1 to drop it: a verdict made since
 * the owner was recorded decides a namespace that was unknown then. A verdict known then
 * stays valid (serials are never reused), even when the exit program has dropped it since.
 */
static __always_inline int owner_flags(struct crienrich_net_event *owner)
{
	enum crienrich_verdict *verdict;

	if (!(owner->flags & CRIENRICH_FLAG_MNTNS_UNKNOWN))
		return owner->flags;
	verdict = bpf_map_lookup_elem(&mntns_verdict, &owner->mntns_seq);
	if (!verdict)
		return owner->flags;
	return *verdict == CRIENRICH_VERDICT_ALLOW ? 0 : -1;
}

/* Fills the process part of a net event from the current task (process context only). */
static __always_inline void fill_net_owner(struct crienrich_net_event *e, __u64 mntns_id,
					   __u64 mntns_seq, __u32 pid, __u32 tgid, __u32 ppid,
					   int flags)
{
	__u64 uid_gid = bpf_get_current_uid_gid();

	e->cgroup_id = bpf_get_current_cgroup_id();
	e->mntns_id = mntns_id;
	e->mntns_seq = mntns_seq;
	e->flags = flags;
	e->pid = pid;
	e->tgid = tgid;
	e->ppid = ppid;
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->protocol = IPPROTO_TCP;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* Sends a stored owner's event of `type` with the flags owner_flags() gave. */
static __always_inline void send_owner_event(void *ctx, struct crienrich_sock_owner *owner,
					     enum crienrich_event_type type, int flags,
					     __u64 duration_ns, __u32 state, __s32 error)
{
	struct crienrich_net_event *e = &owner->event;

	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->type = type;
	e->flags = flags;
	e->duration_ns = duration_ns;
	e->state = state;
	e->error = error;
	output(ctx, e, sizeof(*e), CRIENRICH_FAILED_NET_EVENTS);
}

/*
 * Every TCP state change. CLOSE -> SYN_SENT runs in connect(2)'s process context: the
 * owner is recorded (when the filter passes). Every later change is looked up by socket:
 * SYN_SENT -> anything is the connect's outcome, -> CLOSE ends a tracked connection.
 * Sockets without an owner entry (unselected tasks, listeners, the passive side before
 * accept) cost one lookup.
 */
SEC("tracepoint/sock/inet_sock_set_state")
int crienrich_tcp(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct task_struct *task;
	struct crienrich_sock_owner *owner, fresh = {};
	__u64 sk = (__u64)ctx->skaddr, now, mntns_id, mntns_seq;
	__u32 pid, tgid, ppid;
	int flags, oldstate = ctx->oldstate, newstate = ctx->newstate;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	/*
	 * A socket starting a life (leaving CLOSE: connect(2), listen(2); or a child born in
	 * SYN_RECV, cloned from its listener) has no owner yet: drop an entry a freed socket at
	 * the same address left (one accepted after it closed never reaches CLOSE again), or its
	 * owner would be reported for this socket's events. SYN_SENT -> SYN_RECV is no new life
	 * but a connect's simultaneous open (a self-connect: a socket bound to the port it
	 * connects to, which a retry loop towards a local port in the ephemeral range hits): its
	 * owner stays, and its outcome is the next change.
	 */
	if (oldstate == TCP_CLOSE || (newstate == TCP_SYN_RECV && oldstate != TCP_SYN_SENT)) {
		bpf_map_delete_elem(&sock_owner, &sk);
		if (newstate != TCP_SYN_SENT)
			return 0;
	}
	if (newstate == TCP_SYN_SENT) {
		if (!crienrich_config.trace_connect && !crienrich_config.trace_close)
			return 0;
		task = (struct task_struct *)bpf_get_current_task();
		flags = current_task_filter(task, &mntns_id, &mntns_seq, &pid, &tgid, &ppid);
		if (flags < 0)
			return 0;
		fill_net_owner(&fresh.event, mntns_id, mntns_seq, pid, tgid, ppid, flags);
		fresh.start_ns = bpf_ktime_get_ns();
		if (flags & CRIENRICH_FLAG_MNTNS_UNKNOWN) {
			fresh.event.ts_boot_ns = bpf_ktime_get_boot_ns();
			send_cgroup_sample(ctx, task, (struct crienrich_event *)&fresh.event);
		}
		bpf_map_update_elem(&sock_owner, &sk, &fresh, BPF_ANY);
		return 0;
	}
	owner = bpf_map_lookup_elem(&sock_owner, &sk);
	if (!owner)
		return 0;
	now = bpf_ktime_get_ns();
	/* The addresses and ports as the connection has them now (the local port is bound). */
	owner->event.family = ctx->family;
	owner->event.sport = ctx->sport;
	owner->event.dport = ctx->dport;
	/* Read, not dereferenced: the verifier refuses loads through a moved ctx pointer. */
	if (ctx->family == CRIENRICH_AF_INET6) {
		bpf_probe_read_kernel(owner->event.saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(owner->event.daddr, 16, ctx->daddr_v6);
	} else {
		__builtin_memset(owner->event.saddr, 0, 16);
		__builtin_memset(owner->event.daddr, 0, 16);
		bpf_probe_read_kernel(owner->event.saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(owner->event.daddr, 4, ctx->daddr);
	}
	/* A simultaneous open (see above): the connect's outcome comes with the next change. */
	if (newstate == TCP_SYN_RECV)
		return 0;
	flags = owner_flags(&owner->event);
	/* A connect's outcome: its first change after SYN_SENT (and SYN_RECV, see above). */
	if (!owner->established_ns) {
		if (newstate == TCP_ESTABLISHED)
			owner->established_ns = now;
		if (flags >= 0 && crienrich_config.trace_connect) {
			__s32 error = 0;

			if (newstate == TCP_CLOSE)
				error = BPF_CORE_READ((struct sock *)sk, sk_err);
			send_owner_event(ctx, owner, CRIENRICH_EVENT_CONNECT, flags,
					 now - owner->start_ns, newstate, error);
		}
		if (newstate == TCP_CLOSE || flags < 0 || !crienrich_config.trace_close)
			bpf_map_delete_elem(&sock_owner, &sk);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	if (flags >= 0 && crienrich_config.trace_close && owner->established_ns)
		send_owner_event(ctx, owner, CRIENRICH_EVENT_CLOSE, flags,
				 now - owner->established_ns, oldstate,
				 BPF_CORE_READ((struct sock *)sk, sk_err));
	bpf_map_delete_elem(&sock_owner, &sk);
	return 0;
}

/*
 * accept(2)/accept4(2) returned `fd` in the current (owner's) task: the connection's
 * socket is found through the task's file table (fd -> file -> socket -> sock). Sends an
 * accept event and records the owner for the close event.
 */
static __always_inline int on_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task;
	struct crienrich_sock_owner fresh = {};
	struct crienrich_net_event *e = &fresh.event;
	struct fdtable *fdt;
	struct file *file, **fds;
	struct socket *socket;
	struct sock *sk;
	__u64 mntns_id, mntns_seq, key;
	__u32 pid, tgid, ppid;
	long fd = ctx->ret;
	int flags;

	if (fd < 0)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	flags = current_task_filter(task, &mntns_id, &mntns_seq, &pid, &tgid, &ppid);
	if (flags < 0)
		return 0;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) < 0 || !file)
		return 0;
	socket = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(socket, sk);
	if (!sk)
		return 0;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (e->family != CRIENRICH_AF_INET && e->family != CRIENRICH_AF_INET6)
		return 0;
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	fill_net_owner(e, mntns_id, mntns_seq, pid, tgid, ppid, flags);
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (e->family == CRIENRICH_AF_INET6) {
		BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
	}
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	if (crienrich_config.trace_accept) {
		e->type = CRIENRICH_EVENT_ACCEPT;
		if (flags & CRIENRICH_FLAG_MNTNS_UNKNOWN)
			send_cgroup_sample(ctx, task, (struct crienrich_event *)e);
		output(ctx, e, sizeof(*e), CRIENRICH_FAILED_NET_EVENTS);
	}
	/* Reset before accept(2): already CLOSE, no later change would delete the entry. */
	if (crienrich_config.trace_close && e->state != TCP_CLOSE) {
		fresh.start_ns = bpf_ktime_get_ns();
		fresh.established_ns = fresh.start_ns;
		key = (__u64)sk;
		bpf_map_update_elem(&sock_owner, &key, &fresh, BPF_ANY);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int crienrich_acpt(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int crienrich_acpt4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx);
}

/* Records an open in flight when the filter passes; `openat2`: flags read from `how`. */
static __always_inline int on_open_enter(const char *path, __u32 open_flags, __u32 open_mode,
					 __u32 openat2)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct crienrich_open_args args = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid(), mntns_id, mntns_seq;
	__u32 pid, tgid, ppid;
	int flags;

	flags = current_task_filter(task, &mntns_id, &mntns_seq, &pid, &tgid, &ppid);
	if (flags < 0)
		return 0;
	args.path_ptr = (__u64)path;
	args.start_ns = bpf_ktime_get_ns();
	args.open_flags = open_flags;
	args.open_mode = open_mode;
	args.openat2 = openat2;
	bpf_map_update_elem(&open_args, &pid_tgid, &args, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int crienrich_open(struct trace_event_raw_sys_enter *ctx)
{
	/* openat(dfd, filename, flags, mode) */
	return on_open_enter((const char *)ctx->args[1], ctx->args[2], ctx->args[3], 0);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int crienrich_open2(struct trace_event_raw_sys_enter *ctx)
{
	/* openat2(dfd, filename, struct open_how *how, size) */
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return on_open_enter((const char *)ctx->args[1], how.flags, how.mode, 1);
}

/*
 * An open returned: the event with its result. The path is read now, not at enter: the
 * kernel has copied it in by then, so its page is resident (opensnoop's reason too).
 */
static __always_inline int on_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task;
	struct crienrich_open_args *args;
	struct crienrich_open_event *e;
	__u64 pid_tgid = bpf_get_current_pid_tgid(), uid_gid, mntns_id, mntns_seq;
	__u32 zero = 0, pid, tgid, ppid, flags;
	long copied;
	int ret;
	__u64 size;

	args = bpf_map_lookup_elem(&open_args, &pid_tgid);
	if (!args)
		return 0;
	e = bpf_map_lookup_elem(&open_scratch, &zero);
	if (!e) {
		bpf_map_delete_elem(&open_args, &pid_tgid);
		return 0;
	}
	/*
	 * Decided again now, not taken from the enter: the verdict may have come since, and an
	 * entry a thread left (killed mid-call) must not vouch for another thread that reuses
	 * its id after the enter was filtered out.
	 */
	task = (struct task_struct *)bpf_get_current_task();
	ret = current_task_filter(task, &mntns_id, &mntns_seq, &pid, &tgid, &ppid);
	if (ret < 0) {
		bpf_map_delete_elem(&open_args, &pid_tgid);
		return 0;
	}
	flags = ret;
	if (args->openat2)
		flags |= CRIENRICH_FLAG_OPENAT2;
	e->ts_boot_ns = bpf_ktime_get_boot_ns();
	e->duration_ns = bpf_ktime_get_ns() - args->start_ns;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->mntns_id = mntns_id;
	e->mntns_seq = mntns_seq;
	e->type = CRIENRICH_EVENT_OPEN;
	e->pid = pid;
	e->tgid = tgid;
	e->ppid = ppid;
	uid_gid = bpf_get_current_uid_gid();
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->result = ctx->ret;
	e->open_flags = args->open_flags;
	e->open_mode = args->open_mode;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	copied = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)args->path_ptr);
	if (copied == sizeof(e->path) &&
	    !string_ends_at((void *)args->path_ptr + sizeof(e->path) - 1, true))
		flags |= CRIENRICH_FLAG_FILENAME_TRUNCATED;
	bpf_map_delete_elem(&open_args, &pid_tgid);
	if (copied <= 0) {
		e->path[0] = '\0';
		copied = 1;
	}
	e->flags = flags;
	size = copied;
	barrier_var(size);
	if (size > CRIENRICH_PATH_LEN)
		size = CRIENRICH_PATH_LEN;
	e->path_size = size;
	if (flags & CRIENRICH_FLAG_MNTNS_UNKNOWN)
		send_cgroup_sample(ctx, task, (struct crienrich_event *)e);
	output(ctx, e, __builtin_offsetof(struct crienrich_open_event, path) + size,
	       CRIENRICH_FAILED_OPEN_EVENTS);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int crienrich_openx(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int crienrich_opn2x(struct trace_event_raw_sys_exit *ctx)
{
	return on_open_exit(ctx);
}
