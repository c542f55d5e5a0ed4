/* The MessagePack subset of the preload library (see msgpack.h). */
#include "msgpack.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ MessagePack writer */


void mb_put(struct mb *b, const void *src, size_t n)
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

void mb_byte(struct mb *b, uint8_t x)
{
	mb_put(b, &x, 1);
}

void mb_be(struct mb *b, uint64_t v, int bytes)
{
	uint8_t t[8];

	for (int i = 0; i < bytes; i++)
		t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	mb_put(b, t, (size_t)bytes);
}

void mb_map(struct mb *b, unsigned n)
{
	if (n < 16) {
		mb_byte(b, (uint8_t)(0x80 | n));
	} else {
		mb_byte(b, 0xde);
		mb_be(b, n, 2);
	}
}

void mb_str(struct mb *b, const char *s)
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

void mb_uint(struct mb *b, uint32_t v)
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

void mb_bin(struct mb *b, const uint8_t *p, uint32_t n)
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

void mb_kv_str(struct mb *b, const char *k, const char *v)
{
	mb_str(b, k);
	mb_str(b, v);
}

void mb_kv_uint(struct mb *b, const char *k, uint32_t v)
{
	mb_str(b, k);
	mb_uint(b, v);
}

/* Starts a frame: 4 length bytes, filled in by mb_end_frame. */
void mb_begin_frame(struct mb *b)
{
	b->n = 0;
	mb_be(b, 0, 4);
}

void mb_end_frame(struct mb *b)
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




uint64_t mp_be(const uint8_t *p, int bytes)
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
int mp_next(struct mp *r, struct mv *v)
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
		v->u = mp_be(q, 1 << (c - 0xcc));
		return 0;
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		int bytes = 1 << (c - 0xd0);

		if ((q = mp_take(r, (size_t)bytes)) == NULL)
			return -1;
		v->t = T_INT;
		v->i = (int64_t)(mp_be(q, bytes) << (64 - 8 * bytes)) >> (64 - 8 * bytes);
		return 0;
	}
	case 0xca:
		if ((q = mp_take(r, 4)) == NULL)
			return -1;
		{ uint32_t x = (uint32_t)mp_be(q, 4); float f; memcpy(&f, &x, 4); v->f = f; }
		v->t = T_FLOAT;
		return 0;
	case 0xcb:
		if ((q = mp_take(r, 8)) == NULL)
			return -1;
		{ uint64_t x = mp_be(q, 8); memcpy(&v->f, &x, 8); }
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
		v->n = (uint32_t)mp_be(q, (c & 1) ? 4 : 2);
		return 0;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		/* fixext 1/2/4/8/16: a type byte, then the data */
		v->n = 1u << (c - 0xd4);
		if (mp_take(r, 1) == NULL || (v->s = mp_take(r, v->n)) == NULL)
			return -1;
		v->t = T_EXT;
		return 0;
	case 0xc7: case 0xc8: case 0xc9:
		if ((q = mp_take(r, (size_t)1 << (c - 0xc7))) == NULL)
			return -1;
		v->n = (uint32_t)mp_be(q, 1 << (c - 0xc7));
		if (mp_take(r, 1) == NULL || (v->s = mp_take(r, v->n)) == NULL)
			return -1;
		v->t = T_EXT;
		return 0;
	default:
		return -1;	/* 0xc1 is never used */
	}
	if ((q = mp_take(r, (size_t)len_bytes)) == NULL)
		return -1;
	v->n = (uint32_t)mp_be(q, len_bytes);
bytes:
	if ((v->s = mp_take(r, v->n)) == NULL)
		return -1;
	v->t = t;
	return 0;
}

/* Skips one complete value (nested arrays and maps included). */
int mp_skip(struct mp *r, int depth)
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
int mv_uint(const struct mv *v, uint64_t *out)
{
	if (v->t == T_UINT) { *out = v->u; return 0; }
	if (v->t == T_INT && v->i >= 0) { *out = (uint64_t)v->i; return 0; }
	if (v->t == T_FLOAT && v->f >= 0 && v->f <= 18446744073709551615.0 && (double)(uint64_t)v->f == v->f) {
		*out = (uint64_t)v->f;
		return 0;
	}
	return -1;
}

int key_is(const struct mv *k, const char *name)
{
	size_t n = strlen(name);

	return k->t == T_STR && k->n == n && memcmp(k->s, name, n) == 0;
}

void copy_str(char *dst, size_t cap, const struct mv *v)
{
	size_t n = 0;

	if (v->t == T_STR)
		n = v->n < cap - 1 ? v->n : cap - 1;
	if (n)
		memcpy(dst, v->s, n);
	dst[n] = '\0';
}
