/*
 * src/common/opts.c
 *    The flag tables: environment first, then getopt_long over the merged tables, with typed parsing and
 *    error messages that name the flag.
 */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

#define OPTS_MAX 128

void
opts_env_name(const char *name, char *out, size_t outlen)
{
	size_t		n = (size_t) snprintf(out, outlen, "BULWARK_");

	for (const char *p = name; *p && n + 1 < outlen; p++)
		out[n++] = (*p == '-') ? '_' : (char) toupper((unsigned char) *p);
	out[n < outlen ? n : outlen - 1] = '\0';
}

static bool
opts_parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0)
		*out = false;
	else
		return false;
	return true;
}

/* opts_set: parse value into def's target; source names where it came from ("--x" or "BULWARK_X"). */
static bool
opts_set(const OptDef *def, const char *value, const char *source, char *err, size_t errlen)
{
	switch (def->type)
	{
		case OPT_TYPE_STRING:
			*(const char **) def->target = value;
			return true;
		case OPT_TYPE_INT:
			{
				char	   *end;
				long long	v;

				errno = 0;
				v = strtoll(value, &end, 10);
				if (errno != 0 || end == value || *end != '\0')
				{
					snprintf(err, errlen, "%s: expected an integer, got \"%s\"", source, value);
					return false;
				}
				*(int64_t *) def->target = v;
				return true;
			}
		case OPT_TYPE_BOOL:
			if (!opts_parse_bool(value, (bool *) def->target))
			{
				snprintf(err, errlen, "%s: expected true or false, got \"%s\"", source, value);
				return false;
			}
			return true;
		case OPT_TYPE_DURATION:
			{
				char		why[128];

				if (!duration_parse(value, (int64_t *) def->target, why, sizeof(why)))
				{
					snprintf(err, errlen, "%s: expected a duration like \"5s\" or \"500ms\", got \"%s\" (%s)",
							 source, value, why);
					return false;
				}
			}
			return true;
	}
	snprintf(err, errlen, "%s: unknown option type", source);
	return false;
}

bool
opts_given(const OptDef *d, int argc, char **argv)
{
	size_t		len = strlen(d->name);

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) == 0 && strncmp(a + 2, d->name, len) == 0 && (a[2 + len] == '\0' || a[2 + len] == '='))
			return true;
		if (d->short_name && a[0] == '-' && a[1] == d->short_name)
			return true;
	}
	return false;
}

size_t
opts_value_size(const OptDef *d)
{
	switch (d->type)
	{
		case OPT_TYPE_STRING:
			return sizeof(const char *);
		case OPT_TYPE_INT:
		case OPT_TYPE_DURATION:
			return sizeof(int64_t);
		case OPT_TYPE_BOOL:
			return sizeof(bool);
	}
	return 0;
}

bool
opts_parse(int argc, char **argv, int *optind_io, const OptDef *const *tables, bool stop_at_nonopt,
		   char **positional, int max_positional, int *n_positional, bool *help, char *err, size_t errlen)
{
	const OptDef *defs[OPTS_MAX];
	struct option longopts[OPTS_MAX + 2];
	char		shortopts[OPTS_MAX * 2 + 4];
	size_t		ndefs = 0;
	size_t		ns = 0;
	char		source[128];

	*help = false;
	if (n_positional)
		*n_positional = 0;

	shortopts[ns++] = stop_at_nonopt ? '+' : '-';
	shortopts[ns++] = ':';
	for (const OptDef *const *t = tables; *t; t++)
	{
		for (const OptDef *d = *t; d->name; d++)
		{
			if (ndefs >= OPTS_MAX)
			{
				snprintf(err, errlen, "too many flags defined");
				return false;
			}
			defs[ndefs] = d;
			longopts[ndefs] = (struct option) {
				d->name, d->type == OPT_TYPE_BOOL ? optional_argument : required_argument, NULL, 1000 + (int) ndefs
			};
			if (d->short_name)
			{
				shortopts[ns++] = d->short_name;
				if (d->type != OPT_TYPE_BOOL)
					shortopts[ns++] = ':';
			}
			ndefs++;
		}
	}
	longopts[ndefs] = (struct option) {"help", no_argument, NULL, 'h'};
	longopts[ndefs + 1] = (struct option) {NULL, 0, NULL, 0};
	shortopts[ns++] = 'h';
	shortopts[ns] = '\0';

	/*
	 * The environment first, so that the command line overrides it; and only for flags the command line does not
	 * give anywhere: bulwarkctl parses its global flags, then the command's (which repeat the store flags), and
	 * the second parse must not put the environment back over a flag given before the command name.
	 */
	for (size_t i = 0; i < ndefs; i++)
	{
		char		env[128];
		const char *v;

		opts_env_name(defs[i]->name, env, sizeof(env));
		v = getenv(env);
		if (v == NULL || (v[0] == '\0' && defs[i]->type != OPT_TYPE_STRING) || opts_given(defs[i], argc, argv))
			continue;
		if (!opts_set(defs[i], v, env, err, errlen))
			return false;
	}

	/*
	 * optind 0 makes glibc re-initialize, including the ordering mode of the optstring's first character; a
	 * second parse in the same process (global flags, then the command's) would otherwise keep the first mode.
	 */
	optind = *optind_io <= 1 ? 0 : *optind_io;
	opterr = 0;
	for (;;)
	{
		int			longindex = -1;
		int			c = getopt_long(argc, argv, shortopts, longopts, &longindex);
		const OptDef *d = NULL;

		if (c == -1)
			break;
		if (c == 'h')
		{
			*help = true;
			continue;
		}
		if (c == 1)
		{
			/* a positional argument, in order ("-" optstring) */
			if (positional == NULL || *n_positional >= max_positional)
			{
				snprintf(err, errlen, "unexpected argument \"%s\"", optarg);
				return false;
			}
			positional[(*n_positional)++] = optarg;
			continue;
		}
		if (c == '?')
		{
			if (optopt)
				snprintf(err, errlen, "unknown flag -%c", optopt);
			else
				snprintf(err, errlen, "unknown flag \"%s\"", argv[optind - 1]);
			return false;
		}
		if (c == ':')
		{
			snprintf(err, errlen, "flag \"%s\" needs a value", argv[optind - 1]);
			return false;
		}
		if (c >= 1000)
			d = defs[c - 1000];
		else
		{
			for (size_t i = 0; i < ndefs; i++)
				if (defs[i]->short_name == c)
					d = defs[i];
		}
		if (d == NULL)
		{
			snprintf(err, errlen, "unknown flag -%c", c);
			return false;
		}
		snprintf(source, sizeof(source), "--%s", d->name);
		if (d->type == OPT_TYPE_BOOL && optarg == NULL)
			*(bool *) d->target = true;
		else if (!opts_set(d, optarg, source, err, errlen))
			return false;
	}
	*optind_io = optind;
	return true;
}

static void
opts_format_default(const OptDef *d, char *out, size_t outlen)
{
	out[0] = '\0';
	switch (d->type)
	{
		case OPT_TYPE_STRING:
			{
				const char *v = *(const char **) d->target;

				if (v && *v)
					snprintf(out, outlen, " (default \"%s\")", v);
				return;
			}
		case OPT_TYPE_INT:
			snprintf(out, outlen, " (default %lld)", (long long) *(int64_t *) d->target);
			return;
		case OPT_TYPE_BOOL:
			if (*(bool *) d->target)
				snprintf(out, outlen, " (default true)");
			return;
		case OPT_TYPE_DURATION:
			{
				char		dur[DURATION_FORMAT_SIZE];

				duration_format(*(int64_t *) d->target, dur, sizeof(dur));
				snprintf(out, outlen, " (default %s)", dur);
				return;
			}
	}
}

void
opts_print_help(const OptDef *const *tables)
{
	for (const OptDef *const *t = tables; *t; t++)
	{
		for (const OptDef *d = *t; d->name; d++)
		{
			char		left[96];
			char		dflt[160];
			char		env[96];

			if (d->short_name)
				snprintf(left, sizeof(left), "-%c, --%s%s%s", d->short_name, d->name, d->metavar ? " " : "",
						 d->metavar ? d->metavar : "");
			else
				snprintf(left, sizeof(left), "    --%s%s%s", d->name, d->metavar ? " " : "",
						 d->metavar ? d->metavar : "");
			opts_format_default(d, dflt, sizeof(dflt));
			opts_env_name(d->name, env, sizeof(env));
			printf("  %-36s %s%s [$%s]\n", left, d->help, dflt, env);
		}
	}
	printf("  %-36s %s\n", "-h, --help", "show this help");
}
