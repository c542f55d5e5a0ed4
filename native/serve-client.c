/*
 * The preload library's side of the `mbxmux serve` protocol (src/server/PROTOCOL.md): one connection and
 * one session per open device, frames of a 4-byte big-endian length and one MessagePack map. Only the
 * subset of MessagePack the frames use is written (maps, strings, unsigned integers, binary, booleans);
 * anything may be read and skipped. Every connection is opened by connect_server() and introduced by
 * send_hello(): the one place that decides where the server is and what the session asks for.
 */
#define _GNU_SOURCE
#include "mbxmux-preload.h"

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

/* ------------------------------------------------------------------ MessagePack writer */

struct mb {
	uint8_t *p;
	size_t n, cap;
	int oom;
};

static void mb_put(struct mb *b, const void *src, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		uint8_t *p;

		while (cap < b->n + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static void mb_byte(struct mb *b, uint8_t x)
{
	mb_put(b, &x, 1);
}

static void mb_be(struct mb *b, uint64_t v, int bytes)
{
	uint8_t t[8];

	for (int i = 0; i < bytes; i++)
		t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	mb_put(b, t, (size_t)bytes);
}

static void mb_map(struct mb *b, unsigned n)
{
	if (n < 16) {
		mb_byte(b, (uint8_t)(0x80 | n));
	} else {
		mb_byte(b, 0xde);
		mb_be(b, n, 2);
	}
}

static void mb_str(struct mb *b, const char *s)
{
	size_t n = strlen(s);

	if (n < 32) {
		mb_byte(b, (uint8_t)(0xa0 | n));
	} else if (n < 256) {
		mb_byte(b, 0xd9);
		mb_byte(b, (uint8_t)n);
	} else {
		n &= 0xffff;	/* our strings are short: names, tiers, device ids */
		mb_byte(b, 0xda);
		mb_be(b, n, 2);
	}
	mb_put(b, s, n);
}

static void mb_uint(struct mb *b, uint32_t v)
{
	if (v < 128) {
		mb_byte(b, (uint8_t)v);
	} else if (v < 256) {
		mb_byte(b, 0xcc);
		mb_byte(b, (uint8_t)v);
	} else if (v < 65536) {
		mb_byte(b, 0xcd);
		mb_be(b, v, 2);
	} else {
		mb_byte(b, 0xce);
		mb_be(b, v, 4);
	}
}

static void mb_bin(struct mb *b, const uint8_t *p, uint32_t n)
{
	if (n < 256) {
		mb_byte(b, 0xc4);
		mb_byte(b, (uint8_t)n);
	} else if (n < 65536) {
		mb_byte(b, 0xc5);
		mb_be(b, n, 2);
	} else {
		mb_byte(b, 0xc6);
		mb_be(b, n, 4);
	}
	mb_put(b, p, n);
}

static void mb_kv_str(struct mb *b, const char *k, const char *v)
{
	mb_str(b, k);
	mb_str(b, v);
}

static void mb_kv_uint(struct mb *b, const char *k, uint32_t v)
{
	mb_str(b, k);
	mb_uint(b, v);
}

/* Starts a frame: 4 length bytes, filled in by mb_end_frame. */
static void mb_begin_frame(struct mb *b)
{
	b->n = 0;
	mb_be(b, 0, 4);
}

static void mb_end_frame(struct mb *b)
{
	uint32_t len = (uint32_t)(b->n - 4);

	if (b->oom)
		return;
	b->p[0] = (uint8_t)(len >> 24);
	b->p[1] = (uint8_t)(len >> 16);
	b->p[2] = (uint8_t)(len >> 8);
	b->p[3] = (uint8_t)len;
}

/* ------------------------------------------------------------------ MessagePack reader */

enum { T_NIL, T_BOOL, T_UINT, T_INT, T_FLOAT, T_STR, T_BIN, T_ARR, T_MAP, T_EXT };

struct mp {
	const uint8_t *p, *end;
};

struct mv {
	int t;
	uint64_t u;	/* T_BOOL, T_UINT */
	int64_t i;	/* T_INT */
	double f;	/* T_FLOAT */
	const uint8_t *s;	/* T_STR, T_BIN, T_EXT: the bytes */
	uint32_t n;	/* their length, or the element count of T_ARR / T_MAP */
};

static uint64_t be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Takes `n` bytes from the reader, or NULL if the body is shorter. */
static const uint8_t *mp_take(struct mp *r, size_t n)
{
	const uint8_t *p = r->p;

	if ((size_t)(r->end - r->p) < n)
		return NULL;
	r->p += n;
	return p;
}

/* Reads one value's header (and the bytes of a string, binary or ext). 0, or -1 if malformed. */
static int mp_next(struct mp *r, struct mv *v)
{
	const uint8_t *h = mp_take(r, 1), *q;
	uint8_t c;
	int len_bytes = 0, t = -1;

	if (h == NULL)
		return -1;
	c = *h;
	memset(v, 0, sizeof(*v));
	if (c <= 0x7f) { v->t = T_UINT; v->u = c; return 0; }
	if (c >= 0xe0) { v->t = T_INT; v->i = (int8_t)c; return 0; }
	if ((c & 0xf0) == 0x80) { v->t = T_MAP; v->n = c & 0x0f; return 0; }
	if ((c & 0xf0) == 0x90) { v->t = T_ARR; v->n = c & 0x0f; return 0; }
	if ((c & 0xe0) == 0xa0) { t = T_STR; v->n = c & 0x1f; goto bytes; }
	switch (c) {
	case 0xc0: v->t = T_NIL; return 0;
	case 0xc2: case 0xc3: v->t = T_BOOL; v->u = c == 0xc3; return 0;
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		if ((q = mp_take(r, (size_t)1 << (c - 0xcc))) == NULL)
			return -1;
		v->t = T_UINT;
		v->u = be(q, 1 << (c - 0xcc));
		return 0;
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		int bytes = 1 << (c - 0xd0);

		if ((q = mp_take(r, (size_t)bytes)) == NULL)
			return -1;
		v->t = T_INT;
		v->i = (int64_t)(be(q, bytes) << (64 - 8 * bytes)) >> (64 - 8 * bytes);
		return 0;
	}
	case 0xca:
		if ((q = mp_take(r, 4)) == NULL)
			return -1;
		{ uint32_t x = (uint32_t)be(q, 4); float f; memcpy(&f, &x, 4); v->f = f; }
		v->t = T_FLOAT;
		return 0;
	case 0xcb:
		if ((q = mp_take(r, 8)) == NULL)
			return -1;
		{ uint64_t x = be(q, 8); memcpy(&v->f, &x, 8); }
		v->t = T_FLOAT;
		return 0;
	case 0xd9: t = T_STR; len_bytes = 1; break;
	case 0xda: t = T_STR; len_bytes = 2; break;
	case 0xdb: t = T_STR; len_bytes = 4; break;
	case 0xc4: t = T_BIN; len_bytes = 1; break;
	case 0xc5: t = T_BIN; len_bytes = 2; break;
	case 0xc6: t = T_BIN; len_bytes = 4; break;
	case 0xdc: case 0xdd: case 0xde: case 0xdf:
		if ((q = mp_take(r, (c & 1) ? 4 : 2)) == NULL)
			return -1;
		v->t = c <= 0xdd ? T_ARR : T_MAP;
		v->n = (uint32_t)be(q, (c & 1) ? 4 : 2);
		return 0;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		/* fixext 1/2/4/8/16: a type byte, then the data */
		if (mp_take(r, 1) == NULL || (v->s = mp_take(r, (size_t)1 << (c - 0xd4))) == NULL)
			return -1;
		v->t = T_EXT;
		return 0;
	case 0xc7: case 0xc8: case 0xc9:
		if ((q = mp_take(r, (size_t)1 << (c - 0xc7))) == NULL)
			return -1;
		v->n = (uint32_t)be(q, 1 << (c - 0xc7));
		if (mp_take(r, 1) == NULL || (v->s = mp_take(r, v->n)) == NULL)
			return -1;
		v->t = T_EXT;
		return 0;
	default:
		return -1;	/* 0xc1 is never used */
	}
	if ((q = mp_take(r, (size_t)len_bytes)) == NULL)
		return -1;
	v->n = (uint32_t)be(q, len_bytes);
bytes:
	if ((v->s = mp_take(r, v->n)) == NULL)
		return -1;
	v->t = t;
	return 0;
}

/* Skips one complete value (nested arrays and maps included). */
static int mp_skip(struct mp *r, int depth)
{
	struct mv v;

	if (depth > 32 || mp_next(r, &v) < 0)
		return -1;
	if (v.t == T_ARR || v.t == T_MAP) {
		uint64_t n = (uint64_t)v.n * (v.t == T_MAP ? 2 : 1);

		for (uint64_t i = 0; i < n; i++)
			if (mp_skip(r, depth + 1) < 0)
				return -1;
	}
	return 0;
}

/* A number field as an unsigned integer (msgpackr may write small integral numbers as floats). */
static int mv_uint(const struct mv *v, uint64_t *out)
{
	if (v->t == T_UINT) { *out = v->u; return 0; }
	if (v->t == T_INT && v->i >= 0) { *out = (uint64_t)v->i; return 0; }
	if (v->t == T_FLOAT && v->f >= 0 && v->f <= 18446744073709551615.0 && (double)(uint64_t)v->f == v->f) {
		*out = (uint64_t)v->f;
		return 0;
	}
	return -1;
}

static int key_is(const struct mv *k, const char *name)
{
	size_t n = strlen(name);

	return k->t == T_STR && k->n == n && memcmp(k->s, name, n) == 0;
}

static void copy_str(char *dst, size_t cap, const struct mv *v)
{
	size_t n = 0;

	if (v->t == T_STR)
		n = v->n < cap - 1 ? v->n : cap - 1;
	if (n)
		memcpy(dst, v->s, n);
	dst[n] = '\0';
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
	len = (uint32_t)be(h, 4);
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

/* hello { tier, host, fabricManager, name, devices: false, token? }: what the session asks for. */
static int send_hello(int fd, const struct mbx_entry *e)
{
	const char *tier = getenv("MBXMUX_TIER"), *host = getenv("MBXMUX_HOST"), *fm = getenv("MBXMUX_FM");
	char name[200], token[512];
	int with_fm = fm != NULL && strcmp(fm, "1") == 0, with_token = hello_token(token, sizeof(token));
	struct mb b = { 0 };
	int rc;

	snprintf(name, sizeof(name), "expose:%s:%s", program_invocation_short_name, e->device);
	mb_begin_frame(&b);
	mb_map(&b, 5u + (unsigned)with_fm + (unsigned)with_token);
	mb_kv_str(&b, "type", "hello");
	mb_kv_str(&b, "tier", tier != NULL && tier[0] != '\0' ? tier : "debug-read");
	mb_kv_uint(&b, "host", host != NULL ? (uint32_t)strtoul(host, NULL, 10) : 0);
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
