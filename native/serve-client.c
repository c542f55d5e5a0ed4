/*
 * The preload library's side of the `mbxmux serve` protocol (src/server/PROTOCOL.md): one connection and
 * one session per open device, frames of a 4-byte big-endian length and one MessagePack map (msgpack.c).
 * Every connection is opened by connect_server() and introduced by
 * send_hello(): the one place that decides where the server is and what the session asks for.
 */
#define _GNU_SOURCE
#include "mbxmux-preload.h"
#include "msgpack.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME (16u * 1024 * 1024)	/* the server's default frame cap */

extern void mbx_close_socket(int fd);

int mbx_verbose(void)
{
	const char *v = getenv("MBXMUX_VERBOSE");
	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

void mbx_note(const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mbxmux-preload: %s\n", line);
}

/* ------------------------------------------------------------------ frames on the socket */

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads one frame body into *buf (grown as needed). Returns its length, or -1. */
static long read_frame(int fd, uint8_t **buf, size_t *cap)
{
	uint8_t h[4];
	uint32_t len;

	if (recv_all(fd, h, 4) < 0)
		return -1;
	len = (uint32_t)mp_be(h, 4);
	if (len == 0 || len > MAX_FRAME)
		return -1;
	if (len > *cap) {
		uint8_t *p = realloc(*buf, len);

		if (p == NULL)
			return -1;
		*buf = p;
		*cap = len;
	}
	if (recv_all(fd, *buf, len) < 0)
		return -1;
	return (long)len;
}

/* The frame's `type`, and for `error` frames (fatal) its code and message. */
struct frame_head {
	char type[16];
	uint64_t id;
	char code[32];
	char message[512];
};

static int read_head(const uint8_t *body, long len, struct frame_head *h)
{
	struct mp r = { body, body + len };
	struct mv m, k, v;

	memset(h, 0, sizeof(*h));
	if (mp_next(&r, &m) < 0 || m.t != T_MAP)
		return -1;
	for (uint32_t i = 0; i < m.n; i++) {
		if (mp_next(&r, &k) < 0)
			return -1;
		if (key_is(&k, "type") || key_is(&k, "code") || key_is(&k, "message") || key_is(&k, "id")) {
			if (mp_next(&r, &v) < 0)
				return -1;
			if (key_is(&k, "type"))
				copy_str(h->type, sizeof(h->type), &v);
			else if (key_is(&k, "code"))
				copy_str(h->code, sizeof(h->code), &v);
			else if (key_is(&k, "message"))
				copy_str(h->message, sizeof(h->message), &v);
			else if (mv_uint(&v, &h->id) < 0)
				return -1;
		} else if (mp_skip(&r, 0) < 0) {
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ connecting */

/*
 * Where the server is: MBXMUX_SOCKET holds a Unix socket path, or "tcp:HOST:PORT" for `serve --port`.
 * Returns a connected socket, or -1 with errno set.
 */
static int connect_server(int cloexec)
{
	const char *where = getenv("MBXMUX_SOCKET");
	int fd, type = SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0);

	if (where == NULL || where[0] == '\0') {
		mbx_note("MBXMUX_SOCKET is not set: run the tool with the line `mbxmux expose --print-env` prints");
		errno = EIO;
		return -1;
	}
	if (strncmp(where, "tcp:", 4) == 0) {
		char host[256];
		const char *colon = strrchr(where + 4, ':');
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *a;
		size_t hl = colon ? (size_t)(colon - (where + 4)) : 0;

		if (colon == NULL || hl == 0 || hl >= sizeof(host)) {
			mbx_note("MBXMUX_SOCKET=%s: expected tcp:HOST:PORT", where);
			errno = EIO;
			return -1;
		}
		memcpy(host, where + 4, hl);
		host[hl] = '\0';
		if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {	/* [::1] */
			memmove(host, host + 1, hl - 2);
			host[hl - 2] = '\0';
		}
		if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
			mbx_note("cannot resolve %s", where);
			errno = EIO;
			return -1;
		}
		fd = -1;
		for (a = ai; a != NULL && fd < 0; a = a->ai_next) {
			fd = socket(a->ai_family, type, 0);
			if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
				int e = errno;

				mbx_close_socket(fd);
				fd = -1;
				errno = e;
			}
		}
		freeaddrinfo(ai);
		if (fd >= 0) {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(where) >= sizeof(sa.sun_path)) {
			mbx_note("MBXMUX_SOCKET path is too long for a Unix socket: %s", where);
			errno = EIO;
			return -1;
		}
		strcpy(sa.sun_path, where);
		fd = socket(AF_UNIX, type, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			int e = errno;

			mbx_close_socket(fd);
			fd = -1;
			errno = e;
		}
	}
	if (fd < 0) {
		mbx_note("cannot reach mbxmux serve at %s: %s", where, strerror(errno));
		errno = EIO;	/* the server is gone: the device answers EIO, like hardware that fell off the bus */
	}
	return fd;
}

/*
 * The token for servers that require one: MBXMUX_TOKEN, or the first line of the file MBXMUX_TOKEN_FILE.
 * Returns 1 and fills `out` if there is one.
 */
static int hello_token(char *out, size_t cap)
{
	const char *t = getenv("MBXMUX_TOKEN"), *file = getenv("MBXMUX_TOKEN_FILE");

	out[0] = '\0';
	if (t != NULL && t[0] != '\0') {
		snprintf(out, cap, "%s", t);
	} else if (file != NULL && file[0] != '\0') {
		FILE *f = fopen(file, "re");

		if (f == NULL)
			return 0;
		if (fgets(out, (int)cap, f) == NULL)
			out[0] = '\0';
		fclose(f);
		out[strcspn(out, "\r\n")] = '\0';
	}
	return out[0] != '\0';
}

/* hello { tier, host?, fabricManager?, name, devices: false, token? }: what the session asks for. */
static int send_hello(int fd, const struct mbx_entry *e)
{
	const char *tier = getenv("MBXMUX_TIER"), *host = getenv("MBXMUX_HOST"), *fm = getenv("MBXMUX_FM");
	char name[200], token[512];
	int with_fm = fm != NULL && strcmp(fm, "1") == 0, with_token = hello_token(token, sizeof(token));
	int with_host = host != NULL && host[0] != '\0';	/* no host: the server picks the one the session may act for */
	struct mb b = { 0 };
	int rc;

	snprintf(name, sizeof(name), "expose:%s:%s", program_invocation_short_name, e->device);
	mb_begin_frame(&b);
	mb_map(&b, 4u + (unsigned)with_host + (unsigned)with_fm + (unsigned)with_token);
	mb_kv_str(&b, "type", "hello");
	mb_kv_str(&b, "tier", tier != NULL && tier[0] != '\0' ? tier : "debug-read");
	if (with_host)
		mb_kv_uint(&b, "host", (uint32_t)strtoul(host, NULL, 10));
	mb_kv_str(&b, "name", name);
	mb_str(&b, "devices");
	mb_byte(&b, 0xc2);	/* false: no device list in welcome */
	if (with_fm) {
		mb_str(&b, "fabricManager");
		mb_byte(&b, 0xc3);
	}
	if (with_token)
		mb_kv_str(&b, "token", token);
	mb_end_frame(&b);
	rc = b.oom ? -1 : send_all(fd, b.p, b.n);
	free(b.p);
	return rc;
}

/*
 * Opens a session for one device: connect, hello, wait for welcome. Returns the socket, or -1 with errno:
 * EIO if the server cannot be reached or closed the connection, EACCES if it refused the session (a host
 * it does not serve, a missing token).
 */
int mbx_session_open(const struct mbx_entry *e, int cloexec)
{
	int fd = connect_server(cloexec);
	uint8_t *buf = NULL;
	size_t cap = 0;
	long len;
	struct frame_head h;

	if (fd < 0)
		return -1;
	if (send_hello(fd, e) < 0 || (len = read_frame(fd, &buf, &cap)) < 0 || read_head(buf, len, &h) < 0) {
		mbx_note("mbxmux serve at %s closed the connection during hello", getenv("MBXMUX_SOCKET"));
		free(buf);
		mbx_close_socket(fd);
		errno = EIO;
		return -1;
	}
	free(buf);
	if (strcmp(h.type, "welcome") != 0) {
		mbx_note("mbxmux serve refused the session for %s: %s %s", e->device, h.code, h.message);
		mbx_close_socket(fd);
		errno = strcmp(h.code, "EMBX_PERMISSION") == 0 ? EACCES : EIO;
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------------ requests */

/* Sends one frame and reads frames until the answer with the same id. 0, or -1 (errno EIO). */
static int exchange(struct mbx_dev *d, struct mb *b, uint32_t id, long *len)
{
	struct frame_head h;

	if (b->oom || send_all(d->fd, b->p, b->n) < 0)
		goto gone;
	for (;;) {
		*len = read_frame(d->fd, &d->rx, &d->rx_cap);
		if (*len < 0 || read_head(d->rx, *len, &h) < 0)
			goto gone;
		if (strcmp(h.type, "error") == 0) {
			mbx_note("mbxmux serve ended the session for %s: %s %s", d->e.device, h.code, h.message);
			errno = EIO;
			return -1;
		}
		if (h.id == id)
			return 0;
		/* an answer to nothing we are waiting for: skip it */
	}
gone:
	mbx_note("lost the connection to mbxmux serve (%s) while talking to %s", getenv("MBXMUX_SOCKET"), d->e.device);
	errno = EIO;
	return -1;
}

/* effects { device }: the opcodes of the device's own effects log (CEL / NVMe log 05h), as the server read it. */
int mbx_session_effects(struct mbx_dev *d, uint16_t *opcodes, size_t max, size_t *n)
{
	struct mb b = { 0 };
	uint32_t id = d->next_id++;
	struct mp r;
	struct mv m, k, v;
	long len;
	int rc, is_err = 0;
	char code[32] = "";

	*n = 0;
	mb_begin_frame(&b);
	mb_map(&b, 3);
	mb_kv_str(&b, "type", "effects");
	mb_kv_uint(&b, "id", id);
	mb_kv_str(&b, "device", d->e.device);
	mb_end_frame(&b);
	rc = exchange(d, &b, id, &len);
	free(b.p);
	if (rc < 0)
		return -1;
	r = (struct mp){ d->rx, d->rx + len };
	if (mp_next(&r, &m) < 0 || m.t != T_MAP)
		goto bad;
	for (uint32_t i = 0; i < m.n; i++) {
		if (mp_next(&r, &k) < 0)
			goto bad;
		if (key_is(&k, "type") || key_is(&k, "code")) {
			if (mp_next(&r, &v) < 0)
				goto bad;
			if (key_is(&k, "type"))
				is_err = key_is(&v, "err");	/* key_is compares any string value */
			else
				copy_str(code, sizeof(code), &v);
		} else if (key_is(&k, "effects")) {
			if (mp_next(&r, &v) < 0 || v.t != T_ARR)
				goto bad;
			for (uint32_t j = 0, entries = v.n; j < entries; j++) {
				struct mv em, ek, ev;
				uint64_t op;

				if (mp_next(&r, &em) < 0 || em.t != T_MAP)
					goto bad;
				for (uint32_t f = 0; f < em.n; f++) {
					if (mp_next(&r, &ek) < 0)
						goto bad;
					if (!key_is(&ek, "opcode")) {
						if (mp_skip(&r, 0) < 0)
							goto bad;
						continue;
					}
					if (mp_next(&r, &ev) < 0 || mv_uint(&ev, &op) < 0)
						goto bad;
					if (*n < max)
						opcodes[(*n)++] = (uint16_t)op;
				}
			}
		} else if (mp_skip(&r, 0) < 0) {
			goto bad;
		}
	}
	if (is_err) {
		errno = strcmp(code, "EMBX_UNKNOWN_DEVICE") == 0 ? ENOENT : EIO;
		return -1;
	}
	return 0;
bad:
	mbx_note("malformed effects answer from mbxmux serve for %s", d->e.device);
	errno = EIO;
	return -1;
}

/* req { device, opcode, ... } -> res { rc, payload, cqe? } or err { code, message }. 0, or -1 (errno EIO). */
int mbx_session_call(struct mbx_dev *d, const struct mbx_request *q, struct mbx_reply *rep)
{
	static const char *const cdw_names[6] = { "cdw10", "cdw11", "cdw12", "cdw13", "cdw14", "cdw15" };
	struct mb b = { 0 };
	uint32_t id = d->next_id++;
	unsigned fields = 5;
	struct mp r;
	struct mv m, k, v;
	long len;
	int rc;

	if (q->nvme)
		fields += 7 + (q->data_len > 0);
	else
		fields += q->payload_len > 0;
	mb_begin_frame(&b);
	mb_map(&b, fields);
	mb_kv_str(&b, "type", "req");
	mb_kv_uint(&b, "id", id);
	mb_kv_str(&b, "device", d->e.device);
	mb_kv_uint(&b, "opcode", q->opcode);
	mb_kv_uint(&b, "timeoutMs", q->timeout_ms);
	if (q->nvme) {
		mb_kv_uint(&b, "nsid", q->nsid);
		for (int i = 0; i < 6; i++)
			mb_kv_uint(&b, cdw_names[i], q->cdw[i]);
		if (q->data_len > 0) {
			mb_str(&b, "data");
			mb_bin(&b, q->data, q->data_len);
		}
	} else if (q->payload_len > 0) {
		mb_str(&b, "payload");
		mb_bin(&b, q->payload, q->payload_len);
	}
	mb_end_frame(&b);
	rc = exchange(d, &b, id, &len);
	free(b.p);
	if (rc < 0)
		return -1;

	memset(rep, 0, sizeof(*rep));
	r = (struct mp){ d->rx, d->rx + len };
	if (mp_next(&r, &m) < 0 || m.t != T_MAP)
		goto bad;
	for (uint32_t i = 0; i < m.n; i++) {
		uint64_t u;

		if (mp_next(&r, &k) < 0)
			goto bad;
		if (!key_is(&k, "type") && !key_is(&k, "rc") && !key_is(&k, "payload") && !key_is(&k, "cqe") &&
		    !key_is(&k, "code") && !key_is(&k, "message")) {
			if (mp_skip(&r, 0) < 0)	/* vendorStatus, background, tunnel, context, ... */
				goto bad;
			continue;
		}
		if (mp_next(&r, &v) < 0)
			goto bad;
		if (key_is(&k, "type"))
			rep->is_err = key_is(&v, "err");
		else if (key_is(&k, "rc") && mv_uint(&v, &u) == 0)
			rep->rc = (uint32_t)u;
		else if (key_is(&k, "payload") && v.t == T_BIN)
			rep->payload = v.s, rep->payload_len = v.n;
		else if (key_is(&k, "cqe") && v.t == T_BIN)
			rep->cqe = v.s, rep->cqe_len = v.n;
		else if (key_is(&k, "code"))
			copy_str(rep->code, sizeof(rep->code), &v);
		else if (key_is(&k, "message"))
			copy_str(rep->message, sizeof(rep->message), &v);
	}
	if (rep->is_err && mbx_verbose())
		mbx_note("%s opcode 0x%x: %s: %s", d->e.device, q->opcode, rep->code, rep->message);
	return 0;
bad:
	mbx_note("malformed answer from mbxmux serve for %s", d->e.device);
	errno = EIO;
	return -1;
}

/*
 * The errno for a request the server failed (an `err` answer). Refusals by the session's tier or host
 * binding are EACCES, as fwctl and the kernel's passthrough permission checks return.
 */
int mbx_errno_of(const struct mbx_reply *rep, enum mbx_kind kind)
{
	int cxl = kind == MBX_CXL_MEM || kind == MBX_CXL_SWITCH;

	if (strcmp(rep->code, "EMBX_PERMISSION") == 0)
		return EACCES;
	if (strcmp(rep->code, "EMBX_BAD_REQUEST") == 0)
		return EINVAL;	/* a value the device cannot take (e.g. NVMe data not in whole dwords) */
	if (strcmp(rep->code, "EMBX_UNKNOWN_DEVICE") == 0)
		return ENXIO;	/* the device went away under an open descriptor */
	if (strcmp(rep->code, "EMBX_TIMEOUT") == 0)
		return cxl ? ETIMEDOUT : EINTR;	/* CXL: doorbell timeout; NVMe: the request was cancelled */
	if (strcmp(rep->code, "EMBX_RING_FULL") == 0 || strcmp(rep->code, "EMBX_BACKPRESSURE") == 0)
		return EBUSY;
	return EIO;	/* worker lost, transport failure, server closing */
}
