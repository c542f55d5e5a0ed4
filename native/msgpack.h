/*
 * The MessagePack subset the preload library needs (https://github.com/msgpack/msgpack/blob/master/spec.md):
 * a writer for maps, strings, unsigned integers, binary and booleans, and a reader that decodes any value's
 * header and can skip any value, so unknown fields of the server's frames are passed over.
 */
#ifndef MBXMUX_MSGPACK_H
#define MBXMUX_MSGPACK_H

#include <stddef.h>
#include <stdint.h>

/* A growing output buffer; `oom` is set (and writes stop) if it cannot grow. */
struct mb {
	uint8_t *p;
	size_t n, cap;
	int oom;
};

void mb_put(struct mb *b, const void *src, size_t n);
void mb_byte(struct mb *b, uint8_t x);
void mb_be(struct mb *b, uint64_t v, int bytes);
void mb_map(struct mb *b, unsigned n);
void mb_str(struct mb *b, const char *s);
void mb_uint(struct mb *b, uint32_t v);
void mb_bin(struct mb *b, const uint8_t *p, uint32_t n);
void mb_kv_str(struct mb *b, const char *k, const char *v);
void mb_kv_uint(struct mb *b, const char *k, uint32_t v);
/* A frame: 4 big-endian length bytes, then one map (src/server/PROTOCOL.md). */
void mb_begin_frame(struct mb *b);
void mb_end_frame(struct mb *b);

enum { T_NIL, T_BOOL, T_UINT, T_INT, T_FLOAT, T_STR, T_BIN, T_ARR, T_MAP, T_EXT };

/* A reader over one frame body. */
struct mp {
	const uint8_t *p, *end;
};

/* One decoded value header. */
struct mv {
	int t;
	uint64_t u;	/* T_BOOL, T_UINT */
	int64_t i;	/* T_INT */
	double f;	/* T_FLOAT */
	const uint8_t *s;	/* T_STR, T_BIN, T_EXT: the bytes */
	uint32_t n;	/* their length, or the element count of T_ARR / T_MAP */
};

uint64_t mp_be(const uint8_t *p, int bytes);
int mp_next(struct mp *r, struct mv *v);
int mp_skip(struct mp *r, int depth);
int mv_uint(const struct mv *v, uint64_t *out);
int key_is(const struct mv *k, const char *name);
void copy_str(char *dst, size_t cap, const struct mv *v);

#endif
