/*
 * src/common/base64.c
 *    Standard base64 encoding and strict decoding (see base64.h).
 */
#include "base64.h"

#include <stdint.h>
#include <stdlib.h>

static const char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64_value: the 6-bit value of an alphabet character, -1 for anything else (including '=') */
static int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t
base64_encoded_len(size_t n)
{
	size_t		groups = n / 3 + (n % 3 != 0);

	if (groups > SIZE_MAX / 4)
		return SIZE_MAX;
	return groups * 4;
}

char *
base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t		out_len = base64_encoded_len(len);
	char	   *out;
	size_t		o = 0;
	size_t		i = 0;

	if (out_len == SIZE_MAX)
		return NULL;
	out = malloc(out_len + 1);
	if (out == NULL)
		return NULL;

	for (; i + 3 <= len; i += 3)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8) | in[i + 2];

		out[o++] = base64_alphabet[(v >> 18) & 0x3f];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = base64_alphabet[(v >> 6) & 0x3f];
		out[o++] = base64_alphabet[v & 0x3f];
	}
	if (len - i == 1)
	{
		uint32_t	v = (uint32_t) in[i] << 16;

		out[o++] = base64_alphabet[(v >> 18) & 0x3f];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = '=';
		out[o++] = '=';
	}
	else if (len - i == 2)
	{
		uint32_t	v = ((uint32_t) in[i] << 16) | ((uint32_t) in[i + 1] << 8);

		out[o++] = base64_alphabet[(v >> 18) & 0x3f];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = base64_alphabet[(v >> 6) & 0x3f];
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

bool
base64_decode(const char *text, size_t len, char **out, size_t *out_len)
{
	const unsigned char *in = (const unsigned char *) text;
	size_t		pad = 0;
	size_t		n;
	char	   *buf;
	size_t		o = 0;

	*out = NULL;
	*out_len = 0;
	if (len % 4 != 0)
		return false;
	if (len > 0 && in[len - 1] == '=')
		pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
	n = len / 4 * 3 - pad;

	buf = malloc(n + 1);
	if (buf == NULL)
		return false;

	for (size_t i = 0; i < len; i += 4)
	{
		bool		last = (i + 4 == len);
		int			v[4];
		uint32_t	group;

		for (int k = 0; k < 4; k++)
		{
			/* '=' is only valid in the last group, in the positions the padding count allows */
			if (last && in[i + k] == '=' && k >= 4 - (int) pad)
			{
				v[k] = 0;
				continue;
			}
			v[k] = base64_value(in[i + k]);
			if (v[k] < 0)
			{
				free(buf);
				return false;
			}
		}
		group = ((uint32_t) v[0] << 18) | ((uint32_t) v[1] << 12) | ((uint32_t) v[2] << 6) | (uint32_t) v[3];

		/* canonical encodings leave the bits beyond the last byte zero */
		if (last && pad == 1 && (group & 0xff) != 0)
		{
			free(buf);
			return false;
		}
		if (last && pad == 2 && (group & 0xffff) != 0)
		{
			free(buf);
			return false;
		}

		buf[o++] = (char) ((group >> 16) & 0xff);
		if (!(last && pad == 2))
			buf[o++] = (char) ((group >> 8) & 0xff);
		if (!(last && pad >= 1))
			buf[o++] = (char) (group & 0xff);
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return true;
}
