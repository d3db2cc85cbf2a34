/*
 * A static helper for tests/cli/break_kinds_test.ts, copied into lab containers (busybox has
 * no threads, no fd passing, no way to open a path of arbitrary bytes). Each mode prints what
 * the test asserts against (pids, ports) on stdout, one "key value" per line.
 *
 *   threads ADDR PORT N      N threads each connect to ADDR:PORT, print "tid T sport P"
 *   selfconnect PORT         bind 127.0.0.1:PORT, connect to 127.0.0.1:PORT (nobody listens)
 *   forkclose ADDR PORT MS   connect, fork: the child keeps the socket MS ms, then closes it
 *   sendfd NAME KIND ADDR PORT  make a TCP socket (KIND connected|fresh|listener), pass it
 *                            over abstract unix socket NAME, close it here
 *   recvfd NAME ACTION ADDR PORT  receive a socket on NAME, then ACTION: close|connect|accept
 *   openhex HEX...           openat(AT_FDCWD) each path given as hex bytes, print results
 *   storm N PATH             N opens of PATH
 * Any mode may be preceded by `after MS`: sleep MS ms first (the test reads the host pid).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int tcp_socket_to(const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
		return socket(AF_INET, SOCK_STREAM, 0);
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
		return socket(AF_INET6, SOCK_STREAM, 0);
	}
	fprintf(stderr, "bad address %s\n", addr);
	exit(2);
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	getsockname(fd, (struct sockaddr *)&ss, &len);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int connect_to(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = tcp_socket_to(addr, port, &ss, &len);

	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		printf("connect-error %d\n", errno);
		return -1;
	}
	return fd;
}

static const char *g_addr;
static int g_port;
static pthread_barrier_t g_barrier;

static void *thread_connect(void *arg)
{
	int fd;

	(void)arg;
	pthread_barrier_wait(&g_barrier);
	fd = connect_to(g_addr, g_port);
	if (fd >= 0) {
		printf("tid %ld sport %d\n", (long)syscall(SYS_gettid), local_port(fd));
		fflush(stdout);
		close(fd);
	}
	return NULL;
}

static int abstract_addr(const char *name, struct sockaddr_un *un)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	strncpy(un->sun_path + 1, name, sizeof(un->sun_path) - 2);
	return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static void send_fd(const char *name, int fd)
{
	struct sockaddr_un un;
	int len = abstract_addr(name, &un), s = socket(AF_UNIX, SOCK_STREAM, 0);
	char byte = 'x', cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	for (int i = 0; connect(s, (struct sockaddr *)&un, len) < 0; i++) {
		if (i > 200) {
			perror("connect unix");
			exit(1);
		}
		usleep(50000);
	}
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(s, &msg, 0) != 1) {
		perror("sendmsg");
		exit(1);
	}
	read(s, &byte, 1); /* the receiver is done */
	close(s);
}

static int recv_fd(const char *name, int *peer)
{
	struct sockaddr_un un;
	int len = abstract_addr(name, &un), s = socket(AF_UNIX, SOCK_STREAM, 0), c, fd = -1;
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };

	if (bind(s, (struct sockaddr *)&un, len) < 0 || listen(s, 1) < 0) {
		perror("bind unix");
		exit(1);
	}
	printf("ready\n");
	fflush(stdout);
	c = accept(s, NULL, NULL);
	if (recvmsg(c, &msg, 0) != 1) {
		perror("recvmsg");
		exit(1);
	}
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	close(s);
	*peer = c;
	return fd;
}

static int unhex(const char *hex, char *out)
{
	int n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = v;
	}
	out[n] = 0;
	return n;
}

int main(int argc, char **argv)
{
	if (argc > 3 && !strcmp(argv[1], "after")) {
		usleep(atoi(argv[2]) * 1000);
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		return 2;
	printf("pid %d\n", getpid());
	fflush(stdout);
	if (!strcmp(argv[1], "threads") && argc == 5) {
		int n = atoi(argv[4]);
		pthread_t t[64];

		g_addr = argv[2];
		g_port = atoi(argv[3]);
		pthread_barrier_init(&g_barrier, NULL, n);
		for (int i = 0; i < n && i < 64; i++)
			pthread_create(&t[i], NULL, thread_connect, NULL);
		for (int i = 0; i < n && i < 64; i++)
			pthread_join(t[i], NULL);
		return 0;
	}
	if (!strcmp(argv[1], "selfconnect") && argc == 3) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
		int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

		inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0) {
			perror("bind");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&in, sizeof(in)) < 0) {
			printf("connect-error %d\n", errno);
			return 1;
		}
		printf("connected sport %d\n", local_port(fd));
		close(fd);
		return 0;
	}
	if (!strcmp(argv[1], "forkclose") && argc == 5) {
		int fd = connect_to(argv[2], atoi(argv[3])), child;

		if (fd < 0)
			return 1;
		printf("sport %d\n", local_port(fd));
		fflush(stdout);
		child = fork();
		if (child == 0) {
			usleep(atoi(argv[4]) * 1000);
			close(fd);
			_exit(0);
		}
		printf("child %d\n", child);
		close(fd);
		waitpid(child, NULL, 0);
		return 0;
	}
	if (!strcmp(argv[1], "sendfd") && argc == 6) {
		struct sockaddr_storage ss;
		socklen_t len;
		int fd = tcp_socket_to(argv[4], atoi(argv[5]), &ss, &len), one = 1;

		if (!strcmp(argv[3], "connected")) {
			if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
				perror("connect");
				return 1;
			}
			printf("sport %d\n", local_port(fd));
		} else if (!strcmp(argv[3], "listener")) {
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0) {
				perror("listen");
				return 1;
			}
		}
		fflush(stdout);
		send_fd(argv[2], fd);
		close(fd);
		printf("sent\n");
		return 0;
	}
	if (!strcmp(argv[1], "recvfd") && argc == 6) {
		struct sockaddr_storage ss;
		socklen_t len;
		int peer, fd = recv_fd(argv[2], &peer), tmp = tcp_socket_to(argv[4], atoi(argv[5]), &ss, &len);

		close(tmp);
		if (!strcmp(argv[3], "connect")) {
			if (connect(fd, (struct sockaddr *)&ss, len) < 0)
				printf("connect-error %d\n", errno);
			else
				printf("sport %d\n", local_port(fd));
		} else if (!strcmp(argv[3], "accept")) {
			int c = accept(fd, NULL, NULL);

			printf("accepted sport %d\n", c >= 0 ? local_port(c) : -1);
			close(c);
		}
		fflush(stdout);
		write(peer, "y", 1);
		close(fd);
		close(peer);
		return 0;
	}
	if (!strcmp(argv[1], "openhex")) {
		for (int i = 2; i < argc; i++) {
			static char path[8192];
			int fd;

			unhex(argv[i], path);
			fd = openat(AT_FDCWD, path, O_RDONLY);
			printf("open %d %d\n", fd, fd < 0 ? errno : 0);
			if (fd >= 0)
				close(fd);
		}
		return 0;
	}
	if (!strcmp(argv[1], "storm") && argc == 4) {
		int n = atoi(argv[2]);

		for (int i = 0; i < n; i++) {
			int fd = open(argv[3], O_RDONLY);

			if (fd >= 0)
				close(fd);
		}
		return 0;
	}
	fprintf(stderr, "usage\n");
	return 2;
}
