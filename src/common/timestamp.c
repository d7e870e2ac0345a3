/*
 * src/common/timestamp.c
 *    RFC 3339 UTC times to and from milliseconds since the epoch, with proleptic Gregorian calendar arithmetic
 *    done here rather than through timegm()/gmtime_r(), so results never depend on TZ or the C library's range.
 */
#include "timestamp.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#define MS_PER_DAY 86400000LL

/* Days since 1970-01-01 of a civil date; the year is split into 400-year eras so negative years work too. */
static int64_t
days_from_civil(int64_t year, int month, int day)
{
	int64_t		era;
	int64_t		year_of_era;
	int64_t		day_of_year;
	int64_t		day_of_era;

	if (month <= 2)
		year--;
	era = (year >= 0 ? year : year - 399) / 400;
	year_of_era = year - era * 400;
	/* March-based months put the leap day last: 153 days per 5 months */
	day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
	return era * 146097 + day_of_era - 719468;
}

static void
civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
	int64_t		era;
	int64_t		day_of_era;
	int64_t		year_of_era;
	int64_t		day_of_year;
	int64_t		mp;

	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	day_of_era = days - era * 146097;
	year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	mp = (5 * day_of_year + 2) / 153;
	*day = (int) (day_of_year - (153 * mp + 2) / 5 + 1);
	*month = (int) (mp < 10 ? mp + 3 : mp - 9);
	*year = year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

static int
days_in_month(int64_t year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return days[month - 1];
}

int64_t
timestamp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
timestamp_format(int64_t ms, char *buf, size_t size)
{
	int64_t		days;
	int64_t		in_day;
	int64_t		year;
	int			month;
	int			day;

	if (ms < TIMESTAMP_MIN_MS)
		ms = TIMESTAMP_MIN_MS;
	if (ms > TIMESTAMP_MAX_MS)
		ms = TIMESTAMP_MAX_MS;
	days = ms / MS_PER_DAY;
	in_day = ms % MS_PER_DAY;
	if (in_day < 0)
	{
		in_day += MS_PER_DAY;
		days--;
	}
	civil_from_days(days, &year, &month, &day);
	snprintf(buf, size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 year, month, day,
			 (int) (in_day / 3600000), (int) (in_day / 60000 % 60), (int) (in_day / 1000 % 60),
			 (int) (in_day % 1000));
	return buf;
}

/* n decimal digits at *p, advancing it; false when any is not a digit. */
static bool
parse_digits(const char **p, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		char		c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool
expect_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

bool
timestamp_parse(const char *text, int64_t *out_ms)
{
	const char *p = text;
	int			year;
	int			month;
	int			day;
	int			hour;
	int			minute;
	int			second;
	int			millis = 0;
	int64_t		offset_ms = 0;
	int64_t		ms;

	if (text == NULL)
		return false;
	if (!parse_digits(&p, 4, &year) || !expect_char(&p, '-') ||
		!parse_digits(&p, 2, &month) || !expect_char(&p, '-') ||
		!parse_digits(&p, 2, &day))
		return false;
	if (*p != 'T' && *p != 't')
		return false;
	p++;
	if (!parse_digits(&p, 2, &hour) || !expect_char(&p, ':') ||
		!parse_digits(&p, 2, &minute) || !expect_char(&p, ':') ||
		!parse_digits(&p, 2, &second))
		return false;
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
		hour > 23 || minute > 59 || second > 59)
		return false;

	if (*p == '.')
	{
		int			digits = 0;

		p++;
		while (*p >= '0' && *p <= '9')
		{
			if (digits < 3)
				millis = millis * 10 + (*p - '0');
			digits++;
			p++;
		}
		if (digits == 0)
			return false;
		for (; digits < 3; digits++)
			millis *= 10;
	}

	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = *p == '-' ? -1 : 1;
		int			oh;
		int			om;

		p++;
		if (!parse_digits(&p, 2, &oh) || !expect_char(&p, ':') || !parse_digits(&p, 2, &om) ||
			oh > 23 || om > 59)
			return false;
		offset_ms = sign * ((int64_t) oh * 3600000 + (int64_t) om * 60000);
	}
	else
		return false;
	if (*p != '\0')
		return false;

	ms = days_from_civil(year, month, day) * MS_PER_DAY +
		(int64_t) hour * 3600000 + (int64_t) minute * 60000 + (int64_t) second * 1000 + millis - offset_ms;
	if (ms < TIMESTAMP_MIN_MS || ms > TIMESTAMP_MAX_MS)
		return false;
	*out_ms = ms;
	return true;
}

int64_t
timestamp_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
