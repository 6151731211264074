/*
 * fake_bksvc.c -- a hostile backup server for tests/jetfs-faults.test:
 * speaks the backup protocol (doc/protocol.md) well enough for jetfs to
 * begin a backup, but lists the one database path and size it is given, so
 * that the test can check that jetfs refuses each bad name and size (F6 in
 * fs/fsbackup.c) and never prints what it was sent raw.
 *
 *   fake_bksvc SOCKET DBPATH SIZE [held]
 *
 * DBPATH may hold C escapes (\n, \xHH) so a test can pass control
 * characters.  Serves one client after another until killed.  With "held"
 * it speaks version 3 and holds a backup that anyone may take over, whose
 * client area is a memory file nobody sealed and that it shrinks to nothing
 * right after sending it: a jetfs that mapped it would die of SIGBUS at the
 * first byte it touched (R4 in fs/fsresume.c).
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PATH "/fake/edb00001.log"

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int
io_all(int fd, void *buf, size_t n, int out)
{
	for (size_t done = 0; done < n;) {
		ssize_t r = out ? send(fd, (uint8_t *)buf + done, n - done, MSG_NOSIGNAL) :
		    recv(fd, (uint8_t *)buf + done, n - done, 0);
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int
reply(int fd, uint32_t seq, int32_t status, const void *p, size_t n)
{
	uint8_t hdr[12];

	put32(hdr, (uint32_t)(8 + n));
	put32(hdr + 4, seq);
	put32(hdr + 8, (uint32_t)status);
	return io_all(fd, hdr, sizeof(hdr), 1) < 0 || (n > 0 && io_all(fd, (void *)p, n, 1) < 0) ? -1 : 0;
}

/* A list reply (GetAttachInfo, GetLogInfo): the fixed fields, then the list if asked for. */
static int
reply_list(int fd, uint32_t seq, const uint8_t *req, const char *path, int loginfo)
{
	size_t len = strlen(path) + 2, nfixed = loginfo ? 20 : 8;
	uint32_t cbmax = get32(req), flags = get32(req + 4);
	uint8_t out[20 + 4096 + 2];

	memset(out, 0, sizeof(out));
	put32(out, 1 | (loginfo ? 2 : 0));
	put32(out + 4, (uint32_t)len);
	if (loginfo) {
		put32(out + 8, 1);
		put32(out + 12, 1);
		memcpy(out + 16, "edb", 3);
	}
	if (cbmax == 0 || (flags & 1))
		return reply(fd, seq, 0, out, nfixed);
	if (cbmax < len)
		return reply(fd, seq, -1601 /* JET_errBufferTooSmall */, out, nfixed);
	memcpy(out + nfixed, path, len - 2);
	return reply(fd, seq, 0, out, nfixed + len);
}

/* ClientArea's reply with an unsealed memory file, shrunk once sent. */
static int
reply_bad_area(int fd, uint32_t seq, uint64_t size)
{
	uint8_t msg[20];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { msg, sizeof(msg) };
	struct msghdr mh;
	struct cmsghdr *cm;
	int mfd = memfd_create("fake-area", MFD_CLOEXEC), rc;

	if (mfd < 0 || ftruncate(mfd, (off_t)size) != 0)
		return -1;
	put32(msg, 16);
	put32(msg + 4, seq);
	put32(msg + 8, 0);
	put64(msg + 12, size);
	memset(&mh, 0, sizeof(mh));
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &mfd, sizeof(int));
	rc = sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(msg) ? 0 : -1;
	(void)!ftruncate(mfd, 0);
	close(mfd);
	return rc;
}

static void
serve(int fd, const char *dbpath, uint64_t dbsize, int held)
{
	uint8_t hdr[12], req[65536], out[80];

	for (;;) {
		uint32_t len, op, seq;
		if (io_all(fd, hdr, sizeof(hdr), 0) < 0)
			return;
		len = get32(hdr);
		op = get32(hdr + 4);
		seq = get32(hdr + 8);
		if (len < 8 || len - 8 > sizeof(req) || io_all(fd, req, len - 8, 0) < 0)
			return;
		memset(out, 0, sizeof(out));
		switch (op) {
		case 1:	/* Hello */
			put32(out, 0x4B42464AU);
			put32(out + 4, held ? 3 : 1);
			put32(out + 8, 4096);
			put32(out + 12, 8u << 20);
			memcpy(out + 16, "edb", 3);
			if (reply(fd, seq, 0, out, 20) < 0)
				return;
			break;
		case 3:	/* GetAttachInfo */
		case 8:	/* GetLogInfo */
			if (reply_list(fd, seq, req, op == 3 ? dbpath : LOG_PATH, op == 8) < 0)
				return;
			break;
		case 4:	/* OpenFile: the database gets the size under test, the log a sound one */
			put64(out, 1);
			put64(out + 8, len - 8 == strlen(dbpath) && memcmp(req, dbpath, len - 8) == 0 ? dbsize : 8192);
			if (reply(fd, seq, 0, out, 16) < 0)
				return;
			break;
		case 13:	/* ShareFile: nothing shared, the reads come here */
			if (reply(fd, seq, -1003 /* JET_errInvalidParameter */, NULL, 0) < 0)
				return;
			break;
		case 15:	/* BackupInfo: backup 1, held for anyone */
			put64(out, 1);
			put32(out + 24, held);
			if (reply(fd, seq, 0, out, 72) < 0)
				return;
			break;
		case 17:	/* ClientArea */
			if (reply_bad_area(fd, seq, get32(req) | (uint64_t)get32(req + 4) << 32) < 0)
				return;
			break;
		default:	/* Begin, TakeOver, CloseFile, End, Stop: done */
			if (reply(fd, seq, 0, NULL, 0) < 0)
				return;
		}
	}
}

/* Undoes \n, \t, \\ and \xHH. */
static void
unescape(char *s)
{
	char *o = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] == 'x' && s[2] != '\0' && s[3] != '\0') {
			char hex[3] = { s[2], s[3], '\0' };
			*o++ = (char)strtol(hex, NULL, 16);
			s += 4;
		} else if (s[0] == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
			*o++ = s[1] == 'n' ? '\n' : s[1] == 't' ? '\t' : '\\';
			s += 2;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

int
main(int argc, char *argv[])
{
	struct sockaddr_un sa;
	int lfd;

	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "held") != 0) ||
	    strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: fake_bksvc SOCKET DBPATH SIZE [held]\n");
		return 2;
	}
	unescape(argv[2]);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, argv[1], strlen(argv[1]));
	unlink(argv[1]);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4) < 0) {
		perror("fake_bksvc");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(fd, argv[2], strtoull(argv[3], NULL, 0), argc == 5);
		close(fd);
	}
}
