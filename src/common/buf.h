/*
 * src/common/buf.h
 *    Buf: a growable byte buffer with a hard maximum size, for everything read from the network or a file
 *    (docs/hacking.md: every buffer fed from the network has a maximum). The data is always NUL-terminated so text
 *    can be used as a C string; len does not count the NUL.
 */
#ifndef BULWARK_BUF_H
#define BULWARK_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct Buf
{
	char	   *data;			/* NULL until the first append; NUL-terminated after it */
	size_t		len;			/* bytes used, without the NUL */
	size_t		cap;			/* bytes allocated */
	size_t		max;			/* appends that would make len exceed this fail */
} Buf;

/* buf_init: an empty buffer that will refuse to grow beyond max bytes. buf_finish frees the data. */
void buf_init(Buf *b, size_t max);
void buf_finish(Buf *b);

/* buf_reset: keep the allocation, forget the contents. */
void buf_reset(Buf *b);

/* buf_append: false (and the buffer unchanged) when len + n would exceed max or memory runs out. */
bool buf_append(Buf *b, const void *data, size_t n) __attribute__((warn_unused_result));
bool buf_append_str(Buf *b, const char *s) __attribute__((warn_unused_result));
bool buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3), warn_unused_result));

/* buf_consume: drop the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(Buf *b, size_t n);

/* buf_cstr: the contents as a C string ("" when empty); borrowed, valid until the next change. */
const char *buf_cstr(const Buf *b);

/* buf_steal: the contents as a malloc'ed C string, caller frees; the buffer is left empty. NULL when out of memory. */
char *buf_steal(Buf *b);

#endif
