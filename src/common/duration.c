/*
 * src/common/duration.c
 *    Go-style duration strings to and from int64 milliseconds. Arithmetic is exact (integers only): a value
 *    that is not a whole number of milliseconds is refused rather than rounded.
 */
#include "duration.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct DurationUnit
{
	const char *name;
	uint64_t	num;			/* one unit is num/den milliseconds */
	uint64_t	den;
} DurationUnit;

static const DurationUnit duration_units[] = {
	{"ns", 1, 1000000},
	{"us", 1, 1000},
	{"\xc2\xb5s", 1, 1000},		/* U+00B5 micro sign, as Go accepts */
	{"\xce\xbcs", 1, 1000},		/* U+03BC greek mu */
	{"ms", 1, 1},
	{"s", 1000, 1},
	{"m", 60000, 1},
	{"h", 3600000, 1},
};

/* More fraction digits than this are below a nanosecond of an hour, so never a whole millisecond. */
#define DURATION_MAX_FRACTION_DIGITS 12

static bool
duration_fail(char *err, size_t errlen, const char *reason)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", reason);
	return false;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The unit as printable text for an error message: non-printable bytes as \xNN, at most 16 bytes shown. */
static void
duration_describe_unit(const char *unit, size_t len, char *out, size_t outlen)
{
	size_t		used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < len && i < 16 && used + 5 < outlen; i++)
	{
		unsigned char c = (unsigned char) unit[i];
		int			n;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			n = snprintf(out + used, outlen - used, "%c", c);
		else
			n = snprintf(out + used, outlen - used, "\\x%02x", c);
		if (n < 0)
			break;
		used += (size_t) n;
	}
}

bool
duration_parse(const char *text, int64_t *out_ms, char *err, size_t errlen)
{
	const char *p = text;
	uint64_t	total = 0;

	if (text == NULL || *text == '\0')
		return duration_fail(err, errlen, "empty duration");
	if (*p == '-')
		return duration_fail(err, errlen, "negative durations are not allowed");
	if (strcmp(text, "0") == 0)
	{
		*out_ms = 0;
		return true;
	}

	while (*p != '\0')
	{
		uint64_t	ipart = 0;
		uint64_t	fpart = 0;
		int			fdigits = 0;
		bool		have_digits = false;
		bool		fraction_too_fine = false;
		const char *unit;
		size_t		unit_len;
		const DurationUnit *u = NULL;
		uint64_t	ms;

		while (is_digit(*p))
		{
			if (ipart > (UINT64_MAX - 9) / 10)
				return duration_fail(err, errlen, "too large");
			ipart = ipart * 10 + (uint64_t) (*p - '0');
			have_digits = true;
			p++;
		}
		if (*p == '.')
		{
			p++;
			while (is_digit(*p))
			{
				if (fdigits < 18)
				{
					fpart = fpart * 10 + (uint64_t) (*p - '0');
					fdigits++;
				}
				else if (*p != '0')
					fraction_too_fine = true;
				have_digits = true;
				p++;
			}
		}
		if (!have_digits)
			return duration_fail(err, errlen, "missing number");
		while (fdigits > 0 && fpart % 10 == 0)
		{
			fpart /= 10;
			fdigits--;
		}
		if (fraction_too_fine || fdigits > DURATION_MAX_FRACTION_DIGITS)
			return duration_fail(err, errlen, "finer than a millisecond");

		unit = p;
		while (*p != '\0' && *p != '.' && !is_digit(*p))
			p++;
		unit_len = (size_t) (p - unit);
		if (unit_len == 0)
			return duration_fail(err, errlen, "missing unit (h, m, s, ms, us or ns)");
		for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
		{
			if (strlen(duration_units[i].name) == unit_len && memcmp(duration_units[i].name, unit, unit_len) == 0)
			{
				u = &duration_units[i];
				break;
			}
		}
		if (u == NULL)
		{
			char		shown[72];
			char		reason[160];

			duration_describe_unit(unit, unit_len, shown, sizeof(shown));
			snprintf(reason, sizeof(reason), "unknown unit \"%s\" (expected h, m, s, ms, us or ns)", shown);
			return duration_fail(err, errlen, reason);
		}

		/* integer part: ipart * num / den, exact */
		if (ipart % u->den != 0)
			return duration_fail(err, errlen, "finer than a millisecond");
		if (ipart / u->den > (uint64_t) DURATION_MAX_MS / u->num)
			return duration_fail(err, errlen, "too large");
		ms = ipart / u->den * u->num;

		/* fraction: fpart / 10^fdigits units; fpart < 10^12 and num <= 3.6e6, so the product fits */
		if (fdigits > 0)
		{
			uint64_t	scale = 1;
			uint64_t	scaled;

			if (u->den != 1)
				return duration_fail(err, errlen, "finer than a millisecond");
			for (int i = 0; i < fdigits; i++)
				scale *= 10;
			scaled = fpart * u->num;
			if (scaled % scale != 0)
				return duration_fail(err, errlen, "finer than a millisecond");
			ms += scaled / scale;
		}

		if (ms > (uint64_t) DURATION_MAX_MS - total)
			return duration_fail(err, errlen, "too large");
		total += ms;
	}

	*out_ms = (int64_t) total;
	return true;
}

char *
duration_format(int64_t ms, char *buf, size_t size)
{
	uint64_t	u;
	const char *sign = "";
	uint64_t	hours;
	uint64_t	minutes;
	uint64_t	seconds;
	uint64_t	millis;
	char		hpart[32] = "";
	char		mpart[32] = "";
	char		fpart[8] = "";

	if (size == 0)
		return buf;
	if (ms < 0)
	{
		sign = "-";
		u = (uint64_t) (-(ms + 1)) + 1;
	}
	else
		u = (uint64_t) ms;

	if (u == 0)
	{
		snprintf(buf, size, "0s");
		return buf;
	}
	if (u < 1000)
	{
		snprintf(buf, size, "%s%" PRIu64 "ms", sign, u);
		return buf;
	}

	hours = u / 3600000;
	minutes = u % 3600000 / 60000;
	seconds = u % 60000 / 1000;
	millis = u % 1000;
	if (hours > 0)
		snprintf(hpart, sizeof(hpart), "%" PRIu64 "h", hours);
	if (hours > 0 || minutes > 0)
		snprintf(mpart, sizeof(mpart), "%" PRIu64 "m", minutes);
	if (millis > 0)
	{
		size_t		n;

		snprintf(fpart, sizeof(fpart), ".%03" PRIu64, millis);
		n = strlen(fpart);
		while (fpart[n - 1] == '0')
			fpart[--n] = '\0';
	}
	snprintf(buf, size, "%s%s%s%" PRIu64 "%ss", sign, hpart, mpart, seconds, fpart);
	return buf;
}
