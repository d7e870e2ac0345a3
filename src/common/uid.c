/*
 * src/common/uid.c
 *    Random identifiers from getrandom(2), and the uid syntax rule.
 */
#include "uid.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

static bool
uid_fill_random(unsigned char *bytes, size_t n)
{
	size_t		got = 0;

	while (got < n)
	{
		ssize_t		r = getrandom(bytes + got, n - got, 0);

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			log_error("could not get random bytes: %m");
			return false;
		}
		got += (size_t) r;
	}
	return true;
}

bool
uid_generate(char *out, size_t size)
{
	unsigned char bytes[UID_RANDOM_LEN / 2];

	if (size > 0)
		out[0] = '\0';
	if (size < UID_RANDOM_LEN + 1 || !uid_fill_random(bytes, sizeof(bytes)))
		return false;
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, size - 2 * i, "%02x", bytes[i]);
	return true;
}

bool
uid_generate_uuid(char *out, size_t size)
{
	unsigned char b[16];

	if (size > 0)
		out[0] = '\0';
	if (size < UUID_SIZE || !uid_fill_random(b, sizeof(b)))
		return false;
	b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	snprintf(out, size,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
			 b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return true;
}

bool
uid_is_valid(const char *s)
{
	size_t		n = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; s[n] != '\0'; n++)
	{
		char		c = s[n];

		if (n >= UID_MAX_LEN)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}
