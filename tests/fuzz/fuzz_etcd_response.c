/*
 * tests/fuzz/fuzz_etcd_response.c
 *    libFuzzer target for everything that reads bytes from etcd: every unary response parser, the error body
 *    mapper, the watch message parser and the watch stream splitter (fed in slice sizes derived from the input),
 *    plus the base64 decoder with an encode/decode round trip. Any crash, leak, sanitizer report or broken
 *    invariant (abort) is a finding. Seeds: tests/fuzz/corpus/etcd_response/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "etcd_proto.h"
#include "store_etcd.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_unary(const char *body, size_t len)
{
	StoreKVList list;
	EtcdTxnResult txn;
	StoreError	err;
	EtcdErrorAction action;
	int64_t		a;
	int64_t		b;
	char	   *token;

	if (etcd_proto_parse_range(body, len, &list, &err))
	{
		for (size_t i = 0; i < list.n; i++)
		{
			/* the NUL after each value is a promise callers rely on */
			if (list.kvs[i].key == NULL || list.kvs[i].value == NULL || list.kvs[i].value[list.kvs[i].value_len] != '\0')
				abort();
		}
		store_kv_list_finish(&list);
	}
	if (etcd_proto_parse_txn(body, len, &txn, &err))
		etcd_txn_result_finish(&txn);
	(void) etcd_proto_parse_put(body, len, &a, &err);
	(void) etcd_proto_parse_delete_range(body, len, &a, &b, &err);
	(void) etcd_proto_parse_lease_grant(body, len, &a, &b, &err);
	if (etcd_proto_parse_lease_keepalive(body, len, 42, &a, &err) && a <= 0)
		abort();
	(void) etcd_proto_parse_header(body, len, &a, &err);
	if (etcd_proto_parse_authenticate(body, len, &token, &err))
		free(token);
	etcd_proto_parse_error(len > 0 ? 400 + (long) (uint8_t) body[0] % 200 : 503, body, len, &err, &action);
	if (memchr(err.message, '\0', sizeof(err.message)) == NULL)
		abort();
}

static void
fuzz_watch_stream(const uint8_t *data, size_t size)
{
	EtcdWatchStream stream;
	uint32_t	seed = size > 0 ? data[0] : 0;
	size_t		pos = 1;

	/* a small maximum, so that the oversized-message path is reached too */
	etcd_watch_stream_init(&stream, 512);
	while (pos < size)
	{
		size_t		slice;

		seed = seed * 1103515245u + 12345u;
		slice = 1 + (seed >> 16) % 97;
		if (slice > size - pos)
			slice = size - pos;
		for (size_t left = slice; left > 0;)
		{
			const char *p = (const char *) data + pos + (slice - left);
			EtcdWatchMessage msg;
			StoreError	err;
			bool		have;
			size_t		used;

			(void) etcd_watch_stream_feed(&stream, p, left, &used, &msg, &have, &err);
			if (used == 0 || used > left)
				abort();
			left -= used;
			if (have)
			{
				for (size_t i = 0; i < msg.n_events; i++)
				{
					if (msg.events[i].kv.key == NULL || msg.events[i].kv.value == NULL)
						abort();
				}
				etcd_watch_message_finish(&msg);
			}
		}
		pos += slice;
	}
	etcd_watch_stream_finish(&stream);
}

static void
fuzz_base64(const uint8_t *data, size_t size)
{
	char	   *dec;
	size_t		len;
	char	   *enc;

	if (base64_decode((const char *) data, size, &dec, &len))
	{
		/* strict decoding means re-encoding gives back the very input */
		enc = base64_encode(dec, len);
		if (enc == NULL || strlen(enc) != size || memcmp(enc, data, size) != 0)
			abort();
		free(enc);
		free(dec);
	}
	enc = base64_encode(data, size);
	if (enc == NULL || !base64_decode(enc, strlen(enc), &dec, &len) || len != size ||
		(size > 0 && memcmp(dec, data, size) != 0))
		abort();
	free(enc);
	free(dec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EtcdWatchMessage msg;
	StoreError	err;

	fuzz_unary((const char *) data, size);
	if (etcd_proto_parse_watch_message((const char *) data, size, &msg, &err))
		etcd_watch_message_finish(&msg);
	fuzz_watch_stream(data, size);
	fuzz_base64(data, size);
	return 0;
}
