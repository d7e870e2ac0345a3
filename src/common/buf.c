/*
 * src/common/buf.c
 *    The bounded growable byte buffer.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(Buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_finish(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(Buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static bool
buf_reserve(Buf *b, size_t n)
{
	size_t		need;
	size_t		cap;
	char	   *p;

	if (n > b->max || b->len > b->max - n)
		return false;
	need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->data, cap);
	if (p == NULL)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

bool
buf_append(Buf *b, const void *data, size_t n)
{
	if (!buf_reserve(b, n))
		return false;
	if (n > 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

bool
buf_append_str(Buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

bool
buf_printf(Buf *b, const char *fmt, ...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t) n))
		return false;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
	return true;
}

void
buf_consume(Buf *b, size_t n)
{
	if (n >= b->len)
	{
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

const char *
buf_cstr(const Buf *b)
{
	return b->data ? b->data : "";
}

char *
buf_steal(Buf *b)
{
	char	   *s = b->data;

	if (s == NULL)
		s = strdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return s;
}
