/*
 * tests/fuzz/fuzz_cluster_data.c
 *    libFuzzer target for the cluster data codec: arbitrary bytes go to every decoder of stored documents
 *    (clusterdata, cluster spec, keeper/sentinel/proxy reports) and to the duration and time parsers. Whatever
 *    decodes must encode, decode again, and encode to the same bytes; a deep copy must encode alike. Any
 *    difference aborts, as do the sanitizers on any memory error.
 *
 *    make fuzz && nice -n 10 build/fuzz/fuzz_cluster_data -dict=tests/fuzz/cluster_data.dict \
 *        -max_total_time=180 tests/fuzz/corpus/cluster_data
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "cluster_json.h"
#include "duration.h"
#include "timestamp.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_same(const char *what, const char *a, const char *b)
{
	if (a == NULL || b == NULL || strcmp(a, b) != 0)
	{
		fprintf(stderr, "%s: unstable round trip\nfirst:  %s\nsecond: %s\n", what, a ? a : "(null)", b ? b : "(null)");
		abort();
	}
}

static void
fuzz_cluster_data(const char *text, size_t len)
{
	ClusterData cd;
	ClusterData back;
	ClusterData copy;
	char		err[512];
	char	   *first;
	char	   *second;
	char	   *copied;

	if (!cluster_data_decode(text, len, &cd, err, sizeof(err)))
	{
		if (err[0] == '\0')
			abort();			/* every refusal must say why */
		return;
	}
	first = cluster_data_encode(&cd, false);
	if (first == NULL)
		abort();
	if (!cluster_data_decode(first, strlen(first), &back, err, sizeof(err)))
	{
		fprintf(stderr, "re-decode failed: %s\n%s\n", err, first);
		abort();
	}
	second = cluster_data_encode(&back, false);
	check_same("clusterdata", first, second);
	if (!cluster_data_copy(&copy, &cd))
		abort();
	copied = cluster_data_encode(&copy, false);
	check_same("clusterdata copy", first, copied);
	free(first);
	free(second);
	free(copied);
	cluster_data_finish(&copy);
	cluster_data_finish(&back);
	cluster_data_finish(&cd);
}

static void
fuzz_spec(const char *text, size_t len)
{
	json_t	   *sparse = NULL;
	json_t	   *full;
	json_t	   *full_again;
	ClusterSpec spec;
	ClusterSpec again;
	ClusterSpec from_sparse;
	char		err[512];
	char	   *a;
	char	   *b;

	if (!cluster_spec_decode_text(text, len, &sparse, &spec, err, sizeof(err)))
		return;
	/* the effective spec, written out in full, decodes to itself */
	full = cluster_spec_encode(&spec);
	if (full == NULL || !cluster_spec_decode(full, &again, err, sizeof(err)))
	{
		fprintf(stderr, "full spec does not decode: %s\n", err);
		abort();
	}
	full_again = cluster_spec_encode(&again);
	a = cluster_json_dump(full, false);
	b = cluster_json_dump(full_again, false);
	check_same("spec", a, b);
	free(a);
	free(b);
	/* the kept sparse copy gives the same effective spec */
	if (!cluster_spec_decode(sparse, &from_sparse, err, sizeof(err)))
		abort();
	json_decref(full_again);
	full_again = cluster_spec_encode(&from_sparse);
	a = cluster_json_dump(full, false);
	b = cluster_json_dump(full_again, false);
	check_same("sparse spec", a, b);
	free(a);
	free(b);
	json_decref(full);
	json_decref(full_again);
	json_decref(sparse);
	cluster_spec_finish(&spec);
	cluster_spec_finish(&again);
	cluster_spec_finish(&from_sparse);
}

static void
fuzz_reports(const char *text, size_t len)
{
	KeeperInfo	ki;
	KeeperInfo	ki_back;
	SentinelInfo si;
	SentinelInfo si_back;
	ProxyInfo	pi;
	ProxyInfo	pi_back;
	char		err[512];
	char	   *a;
	char	   *b;

	if (keeper_info_decode(text, len, &ki, err, sizeof(err)))
	{
		a = keeper_info_encode(&ki);
		if (a == NULL || !keeper_info_decode(a, strlen(a), &ki_back, err, sizeof(err)))
			abort();
		b = keeper_info_encode(&ki_back);
		check_same("keeperinfo", a, b);
		free(a);
		free(b);
		keeper_info_finish(&ki_back);
		keeper_info_finish(&ki);
	}
	if (sentinel_info_decode(text, len, &si, err, sizeof(err)))
	{
		a = sentinel_info_encode(&si);
		if (a == NULL || !sentinel_info_decode(a, strlen(a), &si_back, err, sizeof(err)))
			abort();
		b = sentinel_info_encode(&si_back);
		check_same("sentinelinfo", a, b);
		free(a);
		free(b);
	}
	if (proxy_info_decode(text, len, &pi, err, sizeof(err)))
	{
		a = proxy_info_encode(&pi);
		if (a == NULL || !proxy_info_decode(a, strlen(a), &pi_back, err, sizeof(err)))
			abort();
		b = proxy_info_encode(&pi_back);
		check_same("proxyinfo", a, b);
		free(a);
		free(b);
	}
}

static void
fuzz_scalars(const char *text)
{
	int64_t		v;
	int64_t		back;
	char		buf[64];

	if (duration_parse(text, &v, buf, sizeof(buf)))
	{
		if (v < 0 || v > DURATION_MAX_MS)
			abort();
		if (!duration_parse(duration_format(v, buf, sizeof(buf)), &back, NULL, 0) || back != v)
			abort();
	}
	if (timestamp_parse(text, &v))
	{
		if (!timestamp_parse(timestamp_format(v, buf, sizeof(buf)), &back) || back != v)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text;

	/* a private copy: the decoders get exactly size bytes, the string parsers a NUL-terminated string */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_cluster_data(text, size);
	fuzz_spec(text, size);
	fuzz_reports(text, size);
	if (size < 256)
		fuzz_scalars(text);
	free(text);
	return 0;
}
