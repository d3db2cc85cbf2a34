/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The samples crienrich's BPF programs send to user space, one per perf sample: process
 * events (exec, exit: struct crienrich_event), TCP events (struct crienrich_net_event), open
 * events (struct crienrich_open_event) and cgroup samples. All share the head up to `comm`
 * (asserted below), so one reader tells them apart by `type`.
 *
 * This header is the only definition of the layout. The BPF C includes it; the
 * TypeScript decoder never hand-types an offset: scripts/bpf_build.sh reads the
 * compiled object's BTF and writes src/bpf/event_layout.gen.ts. The enums below are
 * used as field or map-value types on purpose, so that they land in the BTF too.
 *
 * Rules: fields carry their unit or clock in the name, largest first, explicit
 * padding, sizes checked below. One struct serves exec and exit (a few unused
 * fields are cheaper than two decoders); `type` says which fields are meaningful.
 * Samples send only the bytes used:
 *   exec: the struct up to `args` (352 bytes) plus `args_size` bytes of argv, so from 352
 *         to 1376 bytes (sizeof); a `/bin/true` exec is 362 bytes instead of 1376;
 *   exit: the head only, the bytes before `filename` (96 bytes: exits carry no strings).
 * `args` comes last because it is the one field whose used length varies widely and is
 * known (args_size). `filename` stays a fixed 256 bytes in front of it: trimming it too
 * would need a variable offset for `args` (a packed string area and a second length),
 * a bigger change to this layout and its decoder than the ~230 bytes it would save.
 * Perf samples may carry a few trailing bytes of padding: readers accept longer samples.
 *
 * Kernel naming: `pid` is the kernel's task id (a thread id in user-space terms) and
 * `tgid` the thread-group id (what ps(1) calls the PID). Both are equal in every event
 * sent: an exec makes the calling thread the leader (de_thread() in fs/exec.c) and
 * exit events are sent for thread-group leaders only.
 */
#ifndef CRIENRICH_EVENT_H
#define CRIENRICH_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* TASK_COMM_LEN in include/linux/sched.h. */
#define CRIENRICH_COMM_LEN 16
/* Bound for the exec'd path; longer paths are cut (PATH_MAX is 4096). */
#define CRIENRICH_FILENAME_LEN 256
/* Bound for argv bytes; a power of two so the BPF code can mask lengths with it. */
#define CRIENRICH_ARGS_LEN 1024

/* Cgroup levels a `struct crienrich_cgroup_sample` carries, innermost first. */
#define CRIENRICH_CGROUP_LEVELS 6
/* Bound of one cgroup directory name (kernfs names are at most NAME_MAX = 255 bytes). */
#define CRIENRICH_CGROUP_NAME_LEN 256

/* `type`: which struct the sample is and which of its fields are meaningful. */
enum crienrich_event_type {
	CRIENRICH_EVENT_EXEC = 1, /* struct crienrich_event: sched:sched_process_exec */
	CRIENRICH_EVENT_EXIT = 2, /* struct crienrich_event: sched:sched_process_exit, leaders only */
	CRIENRICH_EVENT_CGROUP = 3, /* struct crienrich_cgroup_sample, before an unknown event */
	CRIENRICH_EVENT_CONNECT = 4, /* struct crienrich_net_event: an outgoing TCP attempt's result */
	CRIENRICH_EVENT_ACCEPT = 5,  /* struct crienrich_net_event: accept(2)/accept4(2) returned one */
	CRIENRICH_EVENT_CLOSE = 6,   /* struct crienrich_net_event: an established connection ended */
	CRIENRICH_EVENT_OPEN = 7,    /* struct crienrich_open_event: openat(2)/openat2(2) returned */
};

/* `flags`: a bit set. */
enum crienrich_event_flag {
	/* mntns_id was in no verdict map entry; sent because config.send_unknown is set. */
	CRIENRICH_FLAG_MNTNS_UNKNOWN = 1 << 0,
	/* argv was longer than CRIENRICH_ARGS_LEN bytes and was cut. */
	CRIENRICH_FLAG_ARGS_TRUNCATED = 1 << 1,
	/* the exec'd path filled `filename` (or an opened path `path`): probably cut. */
	CRIENRICH_FLAG_FILENAME_TRUNCATED = 1 << 2,
	/* open: the call was openat2(2), `open_flags` holds the low 32 bits of how.flags. */
	CRIENRICH_FLAG_OPENAT2 = 1 << 3,
};

/* `struct crienrich_cgroup_sample.cgroup_flags`: a bit set. */
enum crienrich_cgroup_flag {
	/* the walk reached the hierarchy's root: `names` hold the whole path */
	CRIENRICH_CGROUP_COMPLETE = 1 << 0,
	/* names come from the v1 memory hierarchy (config.cgroup_v1), not the v2 tree */
	CRIENRICH_CGROUP_V1 = 1 << 1,
};

/* Keys of the `output_failures` map: what kind of sample could not be written. */
enum crienrich_failed_kind {
	CRIENRICH_FAILED_EVENTS = 0,         /* struct crienrich_event */
	CRIENRICH_FAILED_CGROUP_SAMPLES = 1, /* struct crienrich_cgroup_sample */
	CRIENRICH_FAILED_NET_EVENTS = 2,     /* struct crienrich_net_event */
	CRIENRICH_FAILED_OPEN_EVENTS = 3,    /* struct crienrich_open_event */
};

/* Values of the `mntns_verdict` map (key: the mount namespace's `mntns_seq`, u64). */
enum crienrich_verdict {
	CRIENRICH_VERDICT_ALLOW = 1, /* send events from this mount namespace */
	CRIENRICH_VERDICT_DENY = 2,  /* drop them in the kernel */
} __attribute__((packed));

struct crienrich_event {
	/* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME, so it keeps counting across suspend. */
	__u64 ts_boot_ns;
	/* exit only: now - task->start_time, both CLOCK_MONOTONIC; 0 for exec. */
	__u64 duration_ns;
	/* bpf_get_current_cgroup_id(): inode of the task's cgroup v2 directory. */
	__u64 cgroup_id;
	/* task->nsproxy->mnt_ns->ns.inum: the inode of /proc/PID/ns/mnt. The kernel hands a
	 * freed inode number to the next new namespace at once: not a key that lasts. */
	__u64 mntns_id;
	/* The mount namespace's 64-bit serial that the kernel never reuses: ns.ns_id (Linux
	 * 6.18+) or mnt_namespace.seq (before). The key of the verdict map. */
	__u64 mntns_seq;
	enum crienrich_event_type type;
	enum crienrich_event_flag flags;
	/* Ids as the traced PID namespace sees them (config.pidns_inum), else the host's. */
	__u32 pid;  /* kernel task id (thread id) */
	__u32 tgid; /* thread-group id: the user-space PID */
	__u32 ppid; /* the parent process's tgid; 0 when outside the traced PID namespace */
	__u32 uid;  /* real uid, after the exec */
	__u32 gid;  /* real gid, after the exec */
	/* exit only: (task->exit_code >> 8) & 0xff, see wait(2) WEXITSTATUS. */
	__u32 exit_code;
	/* exit only: task->exit_code & 0x7f, the killing signal, see WTERMSIG. */
	__u32 exit_signal;
	/* exec only: bytes of `args` filled, NUL separators included. */
	__u32 args_size;
	char comm[CRIENRICH_COMM_LEN];         /* NUL-terminated, from the task */
	char filename[CRIENRICH_FILENAME_LEN]; /* exec only: NUL-terminated path */
	/* exec only: argv copied from mm->arg_start, NUL-separated, args_size bytes; the
	 * sample ends after them (bytes past args_size are not sent). Must stay last. */
	char args[CRIENRICH_ARGS_LEN];
};

/*
 * What names the cgroup of a task whose mount namespace has no verdict yet: sent on the
 * same CPU right before that task's event (type CRIENRICH_EVENT_CGROUP), so user space can
 * find the container even when the process and its cgroup are gone by the time it looks
 * (a one-shot container lives for milliseconds). Tetragon reads cgroup names in BPF for
 * the same reason. The first five fields mirror struct crienrich_event's, so one reader
 * can tell the two apart by `type` at the same offset. Always sent whole.
 */
struct crienrich_cgroup_sample {
	__u64 ts_boot_ns;
	__u64 cgroup_id; /* bpf_get_current_cgroup_id() */
	__u64 mntns_id;  /* as in struct crienrich_event */
	__u64 mntns_seq; /* as in struct crienrich_event */
	__u64 _reserved;
	enum crienrich_event_type type; /* CRIENRICH_EVENT_CGROUP */
	__u32 tgid;                     /* as in the event that follows */
	__u32 depth;                    /* levels filled in `names` (0 to CRIENRICH_CGROUP_LEVELS) */
	enum crienrich_cgroup_flag cgroup_flags;
	/* The cgroup id (kernfs node id = inode of the directory) of each level of `names`:
	 * what proves a level is the directory a runtime created, not one named like it. */
	__u64 ids[CRIENRICH_CGROUP_LEVELS];
	/* Directory names from the task's cgroup up: names[0] is its own, names[1] its
	 * parent's, ...; the root's (empty) name is not included. NUL-terminated. */
	char names[CRIENRICH_CGROUP_LEVELS][CRIENRICH_CGROUP_NAME_LEN];
};

/*
 * A TCP event (type CONNECT, ACCEPT or CLOSE), from tracepoint sock:inet_sock_set_state and
 * the accept syscalls' exit. The fields before `error` and `comm` mirror struct
 * crienrich_event's (same offsets, asserted below), so one decoder reads the process part.
 *
 * The process fields are the socket's OWNER's: the task that called connect(2) (the
 * CLOSE -> SYN_SENT change runs in its context) or accept(2), recorded then in the
 * `sock_owner` map. Later state changes (SYN_SENT -> ESTABLISHED, -> CLOSE) mostly run in
 * softirq context, where the current task is whoever the CPU interrupted (on loopback,
 * often the peer): they are attributed from that map, never from the current task.
 *   connect: sent once, when the attempt's outcome is known: ESTABLISHED (`state`), or
 *            CLOSE with the socket's error (ECONNREFUSED on a reset, ETIMEDOUT, ...);
 *            `duration_ns` is SYN_SENT to outcome.
 *   accept:  sent when accept(2)/accept4(2) returns a TCP socket; `duration_ns` 0.
 *   close:   sent when a connection that was ESTABLISHED (connect) or accepted reaches
 *            CLOSE; `duration_ns` is from ESTABLISHED (or the accept) to then, `state` the
 *            state it closed from, `error` its error (ECONNRESET after a reset) or 0.
 * Ports are in host byte order; addresses as on the wire (network order), IPv4 in the first
 * 4 bytes of `saddr`/`daddr`. `saddr`/`sport` are the local end.
 */
struct crienrich_net_event {
	__u64 ts_boot_ns;
	__u64 duration_ns;
	__u64 cgroup_id; /* the owner's, at connect(2) / accept(2) */
	__u64 mntns_id;  /* the owner's */
	__u64 mntns_seq; /* the owner's */
	enum crienrich_event_type type;
	enum crienrich_event_flag flags;
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__s32 error;     /* a positive errno, or 0 */
	__u16 family;    /* AF_INET (2) or AF_INET6 (10) */
	__u16 protocol;  /* IPPROTO_TCP (6) */
	__u16 sport;
	__u16 dport;
	char comm[CRIENRICH_COMM_LEN]; /* the owner's */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 state; /* connect: the state reached; close: the state it closed from (TCP_* numbers) */
	__u32 _pad;
};

/* Bound of an opened path; longer paths are cut and flagged (PATH_MAX is 4096). */
#define CRIENRICH_PATH_LEN 256

/*
 * An openat(2)/openat2(2) that returned (type OPEN), from the syscalls' enter and exit
 * tracepoints; process fields as in struct crienrich_event (same offsets). `path` is the
 * string the caller passed, relative to its `dfd` when it does not start with '/'. The
 * sample ends after `path_size` bytes of `path`.
 */
struct crienrich_open_event {
	__u64 ts_boot_ns;  /* at the syscall's exit */
	__u64 duration_ns; /* enter to exit of the syscall */
	__u64 cgroup_id;
	__u64 mntns_id;
	__u64 mntns_seq;
	enum crienrich_event_type type;
	enum crienrich_event_flag flags;
	__u32 pid;
	__u32 tgid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__s32 result;     /* the new fd, or -errno */
	__u32 open_flags; /* O_* bits as passed (openat2: the low 32 bits of how.flags) */
	__u32 open_mode;  /* the mode argument (used with O_CREAT / O_TMPFILE) */
	char comm[CRIENRICH_COMM_LEN];
	__u32 path_size;  /* bytes of `path` sent, its NUL included */
	__u32 _pad;
	char path[CRIENRICH_PATH_LEN];
};

/*
 * The load-time configuration: one `const volatile` instance in .rodata that user space
 * writes after bpf_object__open and before bpf_object__load, so the verifier sees the
 * values as constants and prunes the disabled branches (libbpf's "global variables",
 * see libbpf-bootstrap examples/c/bootstrap.bpf.c). Changing it needs a reload; the
 * per-namespace verdicts that change at run time live in the `mntns_verdict` map.
 */
struct crienrich_config {
	/* inode of /proc/1/ns/mnt: the host's mount namespace (it never ends: a lasting key). */
	__u64 host_mntns_id;
	/* 0: trace every task, with host pids. Else the inode of a PID namespace (a kind node's):
	 * trace only its tasks and descendants' and report their ids as it sees them. */
	__u32 pidns_inum;
	/* crienrich's own process id as events report ids: its opens and sockets are not sent. */
	__u32 self_tgid;
	__u8 trace_host;   /* send events from host_mntns_id */
	__u8 send_unknown; /* send events from a namespace absent from the map, flagged */
	__u8 trace_exec;   /* 0: the exec program returns at once (user space skips attaching it too) */
	__u8 trace_exit;   /* 0: the exit program returns at once (same) */
	__u8 cgroup_v1;    /* cgroup samples name the v1 memory hierarchy (a node without v2) */
	__u8 trace_connect; /* send connect events */
	__u8 trace_accept;  /* send accept events */
	__u8 trace_close;   /* send close events (needs the owners recorded at connect/accept) */
	__u8 trace_open;    /* send open events */
	__u8 _pad[7];
};

_Static_assert(sizeof(enum crienrich_event_type) == 4, "event type is 4 bytes");
_Static_assert(sizeof(enum crienrich_event_flag) == 4, "event flags are 4 bytes");
_Static_assert(sizeof(enum crienrich_verdict) == 1, "verdict is 1 byte");
_Static_assert(sizeof(enum crienrich_cgroup_flag) == 4, "cgroup flags are 4 bytes");
_Static_assert(sizeof(enum crienrich_failed_kind) == 4, "a failures key is 4 bytes");
_Static_assert(__builtin_offsetof(struct crienrich_event, type) == 40, "u64s first");
_Static_assert(__builtin_offsetof(struct crienrich_cgroup_sample, type) ==
	       __builtin_offsetof(struct crienrich_event, type), "type at one offset in both");
_Static_assert(__builtin_offsetof(struct crienrich_event, comm) == 80, "u32s next");
_Static_assert(__builtin_offsetof(struct crienrich_event, args) == 352, "args last");
_Static_assert(sizeof(struct crienrich_event) ==
	       __builtin_offsetof(struct crienrich_event, args) + CRIENRICH_ARGS_LEN,
	       "args last: an exec sample is the head plus args_size bytes");
_Static_assert(sizeof(struct crienrich_event) == 1376, "no implicit padding");
_Static_assert(sizeof(struct crienrich_event) % 8 == 0, "8-byte multiple");
_Static_assert(__builtin_offsetof(struct crienrich_cgroup_sample, ids) == 56, "head size");
_Static_assert(sizeof(struct crienrich_cgroup_sample) % 8 == 0, "8-byte multiple");
_Static_assert(sizeof(struct crienrich_config) == 32, "config has no implicit padding");
#define CRIENRICH_SAME_OFFSET(s, f) \
	_Static_assert(__builtin_offsetof(struct s, f) == __builtin_offsetof(struct crienrich_event, f), \
		       #s "." #f " mirrors struct crienrich_event")
CRIENRICH_SAME_OFFSET(crienrich_net_event, type);
CRIENRICH_SAME_OFFSET(crienrich_net_event, flags);
CRIENRICH_SAME_OFFSET(crienrich_net_event, gid);
CRIENRICH_SAME_OFFSET(crienrich_net_event, comm);
CRIENRICH_SAME_OFFSET(crienrich_open_event, type);
CRIENRICH_SAME_OFFSET(crienrich_open_event, flags);
CRIENRICH_SAME_OFFSET(crienrich_open_event, gid);
CRIENRICH_SAME_OFFSET(crienrich_open_event, comm);
_Static_assert(sizeof(struct crienrich_net_event) == 136, "no implicit padding");
_Static_assert(__builtin_offsetof(struct crienrich_open_event, path) == 104, "path last");
_Static_assert((CRIENRICH_PATH_LEN & (CRIENRICH_PATH_LEN - 1)) == 0, "path length is 2^n");
_Static_assert((CRIENRICH_ARGS_LEN & (CRIENRICH_ARGS_LEN - 1)) == 0, "args length is 2^n");

#endif /* CRIENRICH_EVENT_H */
