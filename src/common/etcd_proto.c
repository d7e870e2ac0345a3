/*
 * src/common/etcd_proto.c
 *    Request bodies and response parsing for etcd's v3 JSON gateway (see etcd_proto.h). Pure functions: no I/O,
 *    no logging, no global state. Everything parsed here is untrusted input.
 */
#include "etcd_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

/* how much of etcd's error text, or of a body that is not JSON, goes into an error message */
#define PROTO_MAX_QUOTED 200

const char *
etcd_compare_target_to_string(EtcdCompareTarget target)
{
	switch (target)
	{
		case ETCD_COMPARE_CREATE:
			return "CREATE";
		case ETCD_COMPARE_MOD:
			return "MOD";
		case ETCD_COMPARE_LEASE:
			return "LEASE";
	}
	return "unknown";
}

const char *
etcd_error_action_to_string(EtcdErrorAction action)
{
	switch (action)
	{
		case ETCD_ERROR_ACTION_FAIL:
			return "fail";
		case ETCD_ERROR_ACTION_NEXT_ENDPOINT:
			return "next-endpoint";
		case ETCD_ERROR_ACTION_REAUTH:
			return "reauth";
	}
	return "unknown";
}

/* ---------------------------------------------------------------------------------------------------------
 * Request builders
 */

/* proto_dump: the compact text of root (consumed); NULL when root is NULL or out of memory */
static char *
proto_dump(json_t *root)
{
	char	   *text = NULL;

	if (root != NULL)
		text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static bool
proto_set_bytes(json_t *obj, const char *name, const char *data, size_t len)
{
	char	   *b64 = base64_encode(data, len);
	json_t	   *s;

	if (b64 == NULL)
		return false;
	s = json_string_nocheck(b64);	/* base64 is ASCII */
	free(b64);
	return s != NULL && json_object_set_new(obj, name, s) == 0;
}

/* int64 go out as JSON strings, as the gateway itself writes them (JSON numbers lose precision beyond 2^53) */
static bool
proto_set_int64(json_t *obj, const char *name, int64_t value)
{
	char		text[32];

	snprintf(text, sizeof(text), "%" PRId64, value);
	return json_object_set_new(obj, name, json_string_nocheck(text)) == 0;
}

static bool
proto_set_string(json_t *obj, const char *name, const char *value)
{
	/* json_string checks UTF-8 and returns NULL otherwise; set_new then fails */
	return json_object_set_new(obj, name, json_string(value)) == 0;
}

/* proto_new_key_range: {"key":..., "range_end":...}, the range end left out when empty */
static json_t *
proto_new_key_range(const char *key, size_t key_len, const char *range_end, size_t range_end_len)
{
	json_t	   *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (!proto_set_bytes(obj, "key", key, key_len) ||
		(range_end_len > 0 && !proto_set_bytes(obj, "range_end", range_end, range_end_len)))
	{
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *
proto_new_put(const char *key, size_t key_len, const char *value, size_t value_len, int64_t lease)
{
	json_t	   *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (!proto_set_bytes(obj, "key", key, key_len) ||
		!proto_set_bytes(obj, "value", value, value_len) ||
		(lease != 0 && !proto_set_int64(obj, "lease", lease)))
	{
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* proto_wrap: {"name": inner} (inner consumed); NULL when inner is NULL */
static json_t *
proto_wrap(const char *name, json_t *inner)
{
	json_t	   *obj;

	if (inner == NULL)
		return NULL;
	obj = json_object();
	if (obj == NULL || json_object_set_new(obj, name, inner) != 0)
	{
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* proto_set_array_of_one: obj.name = [inner] (inner consumed); false when inner is NULL or out of memory */
static bool
proto_set_array_of_one(json_t *obj, const char *name, json_t *inner)
{
	json_t	   *array;

	if (inner == NULL)
		return false;
	array = json_array();
	if (array == NULL || json_array_append_new(array, inner) != 0)
	{
		json_decref(array);
		return false;
	}
	return json_object_set_new(obj, name, array) == 0;
}

char *
etcd_proto_build_range(const char *key, size_t key_len, const char *range_end, size_t range_end_len)
{
	return proto_dump(proto_new_key_range(key, key_len, range_end, range_end_len));
}

char *
etcd_proto_build_put(const char *key, size_t key_len, const char *value, size_t value_len, int64_t lease)
{
	return proto_dump(proto_new_put(key, key_len, value, value_len, lease));
}

char *
etcd_proto_build_delete_range(const char *key, size_t key_len, const char *range_end, size_t range_end_len)
{
	return proto_dump(proto_new_key_range(key, key_len, range_end, range_end_len));
}

/* proto_new_compare: [{"key":K,"target":T,"result":"EQUAL","<field>":"revision"}] */
static json_t *
proto_new_compare(const char *key, size_t key_len, EtcdCompareTarget target, int64_t revision)
{
	json_t	   *cmp = json_object();
	const char *field = "mod_revision";

	if (cmp == NULL)
		return NULL;
	switch (target)
	{
		case ETCD_COMPARE_CREATE:
			field = "create_revision";
			break;
		case ETCD_COMPARE_MOD:
			field = "mod_revision";
			break;
		case ETCD_COMPARE_LEASE:
			field = "lease";
			break;
	}
	if (!proto_set_bytes(cmp, "key", key, key_len) ||
		!proto_set_string(cmp, "target", etcd_compare_target_to_string(target)) ||
		!proto_set_string(cmp, "result", "EQUAL") ||
		!proto_set_int64(cmp, field, revision))
	{
		json_decref(cmp);
		return NULL;
	}
	return cmp;
}

char *
etcd_proto_build_txn_put(const char *key, size_t key_len, EtcdCompareTarget target, int64_t revision,
						 const char *value, size_t value_len, int64_t lease)
{
	json_t	   *txn = json_object();

	if (txn == NULL)
		return NULL;
	if (!proto_set_array_of_one(txn, "compare", proto_new_compare(key, key_len, target, revision)) ||
		!proto_set_array_of_one(txn, "success",
								proto_wrap("request_put", proto_new_put(key, key_len, value, value_len, lease))) ||
		!proto_set_array_of_one(txn, "failure",
								proto_wrap("request_range", proto_new_key_range(key, key_len, NULL, 0))))
	{
		json_decref(txn);
		return NULL;
	}
	return proto_dump(txn);
}

char *
etcd_proto_build_txn_put_guarded(const char *key, size_t key_len, EtcdCompareTarget target, int64_t revision,
								 const char *value, size_t value_len, int64_t lease, const char *guard_key,
								 size_t guard_key_len, int64_t guard_lease)
{
	json_t	   *txn = json_object();
	json_t	   *compare = json_array();
	json_t	   *failure = json_array();

	if (txn == NULL || compare == NULL || failure == NULL ||
		json_object_set_new(txn, "compare", compare) != 0)
	{
		json_decref(txn);
		json_decref(compare);
		json_decref(failure);
		return NULL;
	}
	if (json_object_set_new(txn, "failure", failure) != 0)
	{
		json_decref(txn);
		json_decref(failure);
		return NULL;
	}
	if (json_array_append_new(compare, proto_new_compare(key, key_len, target, revision)) != 0 ||
		json_array_append_new(compare, proto_new_compare(guard_key, guard_key_len, ETCD_COMPARE_LEASE,
														 guard_lease)) != 0 ||
		!proto_set_array_of_one(txn, "success",
								proto_wrap("request_put", proto_new_put(key, key_len, value, value_len, lease))) ||
		json_array_append_new(failure, proto_wrap("request_range", proto_new_key_range(key, key_len, NULL, 0))) != 0 ||
		json_array_append_new(failure, proto_wrap("request_range",
												  proto_new_key_range(guard_key, guard_key_len, NULL, 0))) != 0)
	{
		json_decref(txn);
		return NULL;
	}
	return proto_dump(txn);
}

char *
etcd_proto_build_txn_delete(const char *key, size_t key_len, int64_t mod_revision)
{
	json_t	   *txn = json_object();

	if (txn == NULL)
		return NULL;
	if (!proto_set_array_of_one(txn, "compare", proto_new_compare(key, key_len, ETCD_COMPARE_MOD, mod_revision)) ||
		!proto_set_array_of_one(txn, "success",
								proto_wrap("request_delete_range", proto_new_key_range(key, key_len, NULL, 0))))
	{
		json_decref(txn);
		return NULL;
	}
	return proto_dump(txn);
}

char *
etcd_proto_build_lease_grant(int64_t ttl_seconds)
{
	json_t	   *obj = json_object();

	if (obj == NULL || !proto_set_int64(obj, "TTL", ttl_seconds))
	{
		json_decref(obj);
		return NULL;
	}
	return proto_dump(obj);
}

char *
etcd_proto_build_lease_id(int64_t lease_id)
{
	json_t	   *obj = json_object();

	if (obj == NULL || !proto_set_int64(obj, "ID", lease_id))
	{
		json_decref(obj);
		return NULL;
	}
	return proto_dump(obj);
}

char *
etcd_proto_build_authenticate(const char *user, const char *password)
{
	json_t	   *obj = json_object();

	if (obj == NULL || !proto_set_string(obj, "name", user) || !proto_set_string(obj, "password", password))
	{
		json_decref(obj);
		return NULL;
	}
	return proto_dump(obj);
}

char *
etcd_proto_build_watch_create(const char *key, size_t key_len, const char *range_end, size_t range_end_len,
							  int64_t start_revision)
{
	json_t	   *req = proto_new_key_range(key, key_len, range_end, range_end_len);

	if (req == NULL)
		return NULL;
	if ((start_revision > 0 && !proto_set_int64(req, "start_revision", start_revision)) ||
		json_object_set_new(req, "progress_notify", json_true()) != 0)
	{
		json_decref(req);
		return NULL;
	}
	return proto_dump(proto_wrap("create_request", req));
}

/* ---------------------------------------------------------------------------------------------------------
 * Field readers: absent (or null) fields are proto3 zero values
 */

/* proto_quote: copy at most max printable ASCII bytes of text into out, '?' for others, trailing spaces cut */
static void
proto_quote(const char *text, size_t len, char *out, size_t out_size)
{
	size_t		o = 0;

	if (out_size == 0)
		return;
	for (size_t i = 0; i < len && o + 1 < out_size && i < PROTO_MAX_QUOTED; i++)
	{
		unsigned char c = (unsigned char) text[i];

		out[o++] = (c >= 0x20 && c < 0x7f) ? (char) c : ' ';
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static json_t *
proto_load(const char *body, size_t len, StoreError *err)
{
	json_error_t jerr;
	json_t	   *root;

	if (len > ETCD_PROTO_MAX_MESSAGE)
	{
		store_error_set(err, STORE_ERR_TOO_LARGE, "response of %zu bytes exceeds the limit of %d bytes", len,
						ETCD_PROTO_MAX_MESSAGE);
		return NULL;
	}
	root = json_loadb(body != NULL ? body : "", len, 0, &jerr);
	if (root == NULL)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "response is not valid JSON: %s at byte %d", jerr.text,
						jerr.position);
		return NULL;
	}
	if (!json_is_object(root))
	{
		json_decref(root);
		store_error_set(err, STORE_ERR_PROTOCOL, "response is not a JSON object");
		return NULL;
	}
	return root;
}

/* proto_parse_int64_text: a whole decimal integer, optionally negative, that fits int64 */
static bool
proto_parse_int64_text(const char *text, size_t len, int64_t *out)
{
	char		digits[24];
	char	   *end = NULL;
	long long	v;
	size_t		start = (len > 0 && text[0] == '-') ? 1 : 0;

	if (len == start || len >= sizeof(digits))
		return false;
	for (size_t i = start; i < len; i++)
	{
		if (text[i] < '0' || text[i] > '9')
			return false;
	}
	memcpy(digits, text, len);
	digits[len] = '\0';
	errno = 0;
	v = strtoll(digits, &end, 10);
	if (errno != 0 || end != digits + len)
		return false;
	*out = (int64_t) v;
	return true;
}

/* proto_int64: an int64 field, sent as a JSON string or number; 0 when absent */
static bool
proto_int64(json_t *obj, const char *field, int64_t *out, StoreError *err)
{
	json_t	   *v = json_object_get(obj, field);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return true;
	if (json_is_integer(v))
	{
		*out = (int64_t) json_integer_value(v);
		return true;
	}
	if (json_is_string(v) && proto_parse_int64_text(json_string_value(v), json_string_length(v), out))
		return true;
	store_error_set(err, STORE_ERR_PROTOCOL, "field \"%s\" is not an integer", field);
	return false;
}

static bool
proto_bool(json_t *obj, const char *field, bool *out, StoreError *err)
{
	json_t	   *v = json_object_get(obj, field);

	*out = false;
	if (v == NULL || json_is_null(v))
		return true;
	if (json_is_boolean(v))
	{
		*out = json_is_true(v);
		return true;
	}
	store_error_set(err, STORE_ERR_PROTOCOL, "field \"%s\" is not a boolean", field);
	return false;
}

/* proto_bytes: a base64 field decoded into a malloc'ed NUL-terminated string; "" when absent */
static bool
proto_bytes(json_t *obj, const char *field, char **out, size_t *out_len, StoreError *err)
{
	json_t	   *v = json_object_get(obj, field);

	*out = NULL;
	*out_len = 0;
	if (v == NULL || json_is_null(v))
	{
		*out = strdup("");
		if (*out == NULL)
		{
			store_error_set(err, STORE_ERR_PROTOCOL, "out of memory");
			return false;
		}
		return true;
	}
	if (!json_is_string(v))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "field \"%s\" is not a string", field);
		return false;
	}
	if (!base64_decode(json_string_value(v), json_string_length(v), out, out_len))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "field \"%s\" is not valid base64", field);
		return false;
	}
	return true;
}

/* proto_header_revision: header.revision of a response, which must be there and positive */
static bool
proto_header_revision(json_t *root, int64_t *revision, StoreError *err)
{
	json_t	   *header = json_object_get(root, "header");

	if (!json_is_object(header))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "response has no header");
		return false;
	}
	if (!proto_int64(header, "revision", revision, err))
		return false;
	if (*revision <= 0)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "response header has no valid revision");
		return false;
	}
	return true;
}

static bool
proto_parse_kv(json_t *v, StoreKV *kv, StoreError *err)
{
	size_t		key_len;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(v))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "kv is not an object");
		return false;
	}
	if (json_object_get(v, "key") == NULL)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "kv has no key");
		return false;
	}
	if (!proto_bytes(v, "key", &kv->key, &key_len, err) ||
		!proto_bytes(v, "value", &kv->value, &kv->value_len, err) ||
		!proto_int64(v, "create_revision", &kv->create_revision, err) ||
		!proto_int64(v, "mod_revision", &kv->mod_revision, err) ||
		!proto_int64(v, "version", &kv->version, err) ||
		!proto_int64(v, "lease", &kv->lease, err))
		goto fail;
	return true;

fail:
	store_kv_finish(kv);
	return false;
}

/* proto_parse_kvs: an array of kvs (absent = none) into list->kvs and list->n */
static bool
proto_parse_kvs(json_t *obj, StoreKVList *list, StoreError *err)
{
	json_t	   *kvs = json_object_get(obj, "kvs");
	size_t		n;

	list->kvs = NULL;
	list->n = 0;
	if (kvs == NULL || json_is_null(kvs))
		return true;
	if (!json_is_array(kvs))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "field \"kvs\" is not an array");
		return false;
	}
	n = json_array_size(kvs);
	if (n == 0)
		return true;
	list->kvs = calloc(n, sizeof(StoreKV));
	if (list->kvs == NULL)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "out of memory for %zu kvs", n);
		return false;
	}
	for (size_t i = 0; i < n; i++)
	{
		if (!proto_parse_kv(json_array_get(kvs, i), &list->kvs[i], err))
		{
			store_kv_list_finish(list);
			return false;
		}
		list->n = i + 1;
	}
	return true;
}

/* ---------------------------------------------------------------------------------------------------------
 * Unary responses
 */

bool
etcd_proto_parse_range(const char *body, size_t len, StoreKVList *out, StoreError *err)
{
	json_t	   *root = proto_load(body, len, err);
	StoreKVList list = {0};

	if (root == NULL)
		return false;
	if (!proto_header_revision(root, &list.revision, err) || !proto_parse_kvs(root, &list, err))
	{
		json_decref(root);
		return false;
	}
	json_decref(root);
	*out = list;
	return true;
}

bool
etcd_proto_parse_put(const char *body, size_t len, int64_t *revision, StoreError *err)
{
	return etcd_proto_parse_header(body, len, revision, err);
}

bool
etcd_proto_parse_header(const char *body, size_t len, int64_t *revision, StoreError *err)
{
	json_t	   *root = proto_load(body, len, err);
	int64_t		rev;
	bool		ok;

	if (root == NULL)
		return false;
	ok = proto_header_revision(root, &rev, err);
	json_decref(root);
	if (ok)
		*revision = rev;
	return ok;
}

bool
etcd_proto_parse_delete_range(const char *body, size_t len, int64_t *deleted, int64_t *revision, StoreError *err)
{
	json_t	   *root = proto_load(body, len, err);
	int64_t		rev;
	int64_t		n;
	bool		ok;

	if (root == NULL)
		return false;
	ok = proto_header_revision(root, &rev, err) && proto_int64(root, "deleted", &n, err);
	json_decref(root);
	if (ok)
	{
		*deleted = n;
		*revision = rev;
	}
	return ok;
}

void
etcd_txn_result_finish(EtcdTxnResult *txn)
{
	store_kv_list_finish(&txn->range);
	store_kv_list_finish(&txn->range2);
}

bool
etcd_proto_parse_txn(const char *body, size_t len, EtcdTxnResult *out, StoreError *err)
{
	json_t	   *root = proto_load(body, len, err);
	json_t	   *responses;
	EtcdTxnResult result = {0};

	if (root == NULL)
		return false;
	if (!proto_header_revision(root, &result.revision, err) || !proto_bool(root, "succeeded", &result.succeeded, err))
		goto fail;

	responses = json_object_get(root, "responses");
	if (responses != NULL && !json_is_null(responses))
	{
		if (!json_is_array(responses))
		{
			store_error_set(err, STORE_ERR_PROTOCOL, "field \"responses\" is not an array");
			goto fail;
		}
		for (size_t i = 0; i < json_array_size(responses); i++)
		{
			json_t	   *r = json_array_get(responses, i);
			json_t	   *range;

			if (!json_is_object(r))
			{
				store_error_set(err, STORE_ERR_PROTOCOL, "txn response is not an object");
				goto fail;
			}
			range = json_object_get(r, "response_range");
			if (range == NULL || result.has_range2)
				continue;
			if (!json_is_object(range))
			{
				store_error_set(err, STORE_ERR_PROTOCOL, "field \"response_range\" is not an object");
				goto fail;
			}
			if (!proto_parse_kvs(range, result.has_range ? &result.range2 : &result.range, err))
				goto fail;
			if (result.has_range)
			{
				result.range2.revision = result.revision;
				result.has_range2 = true;
			}
			else
			{
				result.range.revision = result.revision;
				result.has_range = true;
			}
		}
	}
	json_decref(root);
	*out = result;
	return true;

fail:
	store_kv_list_finish(&result.range);
	store_kv_list_finish(&result.range2);
	json_decref(root);
	return false;
}

bool
etcd_proto_parse_lease_grant(const char *body, size_t len, int64_t *lease_id, int64_t *ttl, StoreError *err)
{
	json_t	   *root = proto_load(body, len, err);
	json_t	   *error;
	int64_t		rev;
	int64_t		id;
	int64_t		granted;

	if (root == NULL)
		return false;
	error = json_object_get(root, "error");
	if (json_is_string(error) && json_string_length(error) > 0)
	{
		char		text[PROTO_MAX_QUOTED + 1];

		proto_quote(json_string_value(error), json_string_length(error), text, sizeof(text));
		store_error_set(err, STORE_ERR_SERVER, "lease grant refused: %s", text);
		json_decref(root);
		return false;
	}
	if (!proto_header_revision(root, &rev, err) || !proto_int64(root, "ID", &id, err) ||
		!proto_int64(root, "TTL", &granted, err))
	{
		json_decref(root);
		return false;
	}
	json_decref(root);
	if (id == 0 || granted <= 0)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "lease grant response has no ID or TTL");
		return false;
	}
	*lease_id = id;
	*ttl = granted;
	return true;
}

/* proto_error_from_json: the error described by an etcd JSON error object or body */
static void
proto_error_from_json(json_t *root, long http_status, StoreError *err, EtcdErrorAction *action)
{
	json_t	   *src = root;
	json_t	   *error = json_object_get(root, "error");
	json_t	   *message;
	json_t	   *code;
	int64_t		grpc_code = -1;
	int64_t		http_code = 0;
	char		text[PROTO_MAX_QUOTED + 1] = "";
	StoreErrorKind kind;

	/* a stream error is {"error":{...}}; a unary one is flat with "error" and/or "message" strings */
	if (json_is_object(error))
		src = error;
	message = json_object_get(src, "message");
	if (!json_is_string(message) || json_string_length(message) == 0)
		message = json_is_string(error) ? error : NULL;
	if (message != NULL)
		proto_quote(json_string_value(message), json_string_length(message), text, sizeof(text));

	code = json_object_get(src, "code");
	if (code == NULL)
		code = json_object_get(src, "grpc_code");
	if (json_is_integer(code))
		grpc_code = (int64_t) json_integer_value(code);
	else if (json_is_string(code) &&
			 !proto_parse_int64_text(json_string_value(code), json_string_length(code), &grpc_code))
		grpc_code = -1;

	if (http_status == 0 && json_is_integer(json_object_get(src, "http_code")))
	{
		http_code = (int64_t) json_integer_value(json_object_get(src, "http_code"));
		if (http_code >= 100 && http_code <= 599)
			http_status = (long) http_code;
	}
	if (text[0] == '\0')
		snprintf(text, sizeof(text), "error without a message");

	etcd_proto_classify_error(grpc_code, http_status, text, &kind, action);
	if (http_status != 0 && grpc_code >= 0)
		store_error_set(err, kind, "%s (http %ld, code %" PRId64 ")", text, http_status, grpc_code);
	else if (http_status != 0)
		store_error_set(err, kind, "%s (http %ld)", text, http_status);
	else if (grpc_code >= 0)
		store_error_set(err, kind, "%s (code %" PRId64 ")", text, grpc_code);
	else
		store_error_set(err, kind, "%s", text);
}

bool
etcd_proto_parse_lease_keepalive(const char *body, size_t len, int64_t lease_id, int64_t *ttl, StoreError *err)
{
	json_t	   *root = proto_load(body, len, err);
	json_t	   *result;
	int64_t		id;
	int64_t		remaining;

	if (root == NULL)
		return false;
	result = json_object_get(root, "result");
	if (result == NULL && json_object_get(root, "error") != NULL)
	{
		EtcdErrorAction action;

		proto_error_from_json(root, 0, err, &action);
		json_decref(root);
		return false;
	}
	if (!json_is_object(result))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "keepalive response has no result");
		json_decref(root);
		return false;
	}
	if (!proto_int64(result, "ID", &id, err) || !proto_int64(result, "TTL", &remaining, err))
	{
		json_decref(root);
		return false;
	}
	json_decref(root);
	if (id != 0 && id != lease_id)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "keepalive response is for lease %" PRId64 ", not %" PRId64,
						id, lease_id);
		return false;
	}
	/* the gateway omits TTL (proto3 zero) when the lease is not found: expired or revoked */
	if (remaining <= 0)
	{
		store_error_set(err, STORE_ERR_LEASE_NOT_FOUND, "lease %" PRId64 " not found (expired or revoked)", lease_id);
		return false;
	}
	*ttl = remaining;
	return true;
}

bool
etcd_proto_parse_authenticate(const char *body, size_t len, char **token, StoreError *err)
{
	json_t	   *root = proto_load(body, len, err);
	json_t	   *t;

	if (root == NULL)
		return false;
	t = json_object_get(root, "token");
	if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 4096)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "authenticate response has no token");
		json_decref(root);
		return false;
	}
	/* the token goes into an HTTP header: refuse anything that could break it */
	for (size_t i = 0; i < json_string_length(t); i++)
	{
		unsigned char c = (unsigned char) json_string_value(t)[i];

		if (c < 0x21 || c > 0x7e)
		{
			store_error_set(err, STORE_ERR_PROTOCOL, "authenticate response has a token with invalid bytes");
			json_decref(root);
			return false;
		}
	}
	*token = strdup(json_string_value(t));
	json_decref(root);
	if (*token == NULL)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "out of memory");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------------------------------------------
 * Errors
 */

void
etcd_proto_classify_error(int64_t grpc_code, long http_status, const char *message, StoreErrorKind *kind,
						  EtcdErrorAction *action)
{
	*action = ETCD_ERROR_ACTION_FAIL;

	/* the order matters: specific messages first, then the generic codes (gRPC codes from codes.proto) */
	if (strstr(message, "request is too large") || strstr(message, "larger than max") || http_status == 413)
		*kind = STORE_ERR_TOO_LARGE;
	else if (strstr(message, "has been compacted"))
		*kind = STORE_ERR_COMPACTED;
	else if (strstr(message, "lease not found"))
		*kind = STORE_ERR_LEASE_NOT_FOUND;
	else if (strstr(message, "invalid auth token") || strstr(message, "revision of auth store is old"))
	{
		*kind = STORE_ERR_AUTH;
		*action = ETCD_ERROR_ACTION_REAUTH;
	}
	else if (grpc_code == 16 || grpc_code == 7 || http_status == 401 || http_status == 403 ||
			 strstr(message, "permission denied") || strstr(message, "authentication failed") ||
			 strstr(message, "user name is empty") || strstr(message, "authentication is not enabled") ||
			 strstr(message, "user name not found"))
		*kind = STORE_ERR_AUTH;
	else if (strstr(message, "request timed out") || strstr(message, "context deadline exceeded") ||
			 grpc_code == 4 || http_status == 504)
	{
		*kind = STORE_ERR_TIMEOUT;
		*action = ETCD_ERROR_ACTION_NEXT_ENDPOINT;
	}
	else if (grpc_code == 14 || http_status == 503 || http_status == 502 || strstr(message, "no leader") ||
			 strstr(message, "too many requests"))
	{
		*kind = STORE_ERR_UNREACHABLE;
		*action = ETCD_ERROR_ACTION_NEXT_ENDPOINT;
	}
	else if (grpc_code == 3)
		*kind = STORE_ERR_INVALID;
	else
		*kind = STORE_ERR_SERVER;
}

void
etcd_proto_parse_error(long http_status, const char *body, size_t len, StoreError *err, EtcdErrorAction *action)
{
	json_t	   *root = NULL;
	char		text[PROTO_MAX_QUOTED + 1];
	StoreErrorKind kind;

	if (len <= ETCD_PROTO_MAX_MESSAGE)
		root = json_loadb(body != NULL ? body : "", len, 0, NULL);
	if (json_is_object(root) &&
		(json_object_get(root, "error") != NULL || json_object_get(root, "message") != NULL ||
		 json_object_get(root, "code") != NULL))
	{
		proto_error_from_json(root, http_status, err, action);
		json_decref(root);
		return;
	}
	json_decref(root);

	/* not etcd's JSON (a proxy, a "404 page not found"): describe it by its status and its first bytes */
	proto_quote(body != NULL ? body : "", len, text, sizeof(text));
	if (text[0] == '\0')
		snprintf(text, sizeof(text), "empty answer");
	etcd_proto_classify_error(-1, http_status, text, &kind, action);
	store_error_set(err, kind, "%s (http %ld)", text, http_status);
}

/* ---------------------------------------------------------------------------------------------------------
 * Watch stream
 */

void
etcd_watch_message_finish(EtcdWatchMessage *msg)
{
	store_events_free(msg->events, msg->n_events);
	msg->events = NULL;
	msg->n_events = 0;
}

bool
etcd_watch_message_is_progress(const EtcdWatchMessage *msg)
{
	return msg->error.kind == STORE_ERR_NONE && !msg->created && !msg->canceled && msg->n_events == 0;
}

static bool
proto_parse_event(json_t *v, StoreEvent *ev, StoreError *err)
{
	json_t	   *type;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(v))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "watch event is not an object");
		return false;
	}
	/* proto3 omits the zero enum value: no "type" is a PUT */
	type = json_object_get(v, "type");
	if (type == NULL || json_is_null(type) || (json_is_string(type) && strcmp(json_string_value(type), "PUT") == 0) ||
		(json_is_integer(type) && json_integer_value(type) == 0))
		ev->type = STORE_EVENT_PUT;
	else if ((json_is_string(type) && strcmp(json_string_value(type), "DELETE") == 0) ||
			 (json_is_integer(type) && json_integer_value(type) == 1))
		ev->type = STORE_EVENT_DELETE;
	else
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "watch event has an unknown type");
		return false;
	}
	return proto_parse_kv(json_object_get(v, "kv"), &ev->kv, err);
}

static bool
proto_parse_watch_result(json_t *result, EtcdWatchMessage *msg, StoreError *err)
{
	json_t	   *header = json_object_get(result, "header");
	json_t	   *events;
	json_t	   *reason;

	if (header != NULL && !json_is_null(header))
	{
		if (!json_is_object(header))
		{
			store_error_set(err, STORE_ERR_PROTOCOL, "watch message header is not an object");
			return false;
		}
		if (!proto_int64(header, "revision", &msg->revision, err))
			return false;
		if (msg->revision < 0)
		{
			store_error_set(err, STORE_ERR_PROTOCOL, "watch message has a negative revision");
			return false;
		}
	}
	if (!proto_int64(result, "watch_id", &msg->watch_id, err) ||
		!proto_bool(result, "created", &msg->created, err) ||
		!proto_bool(result, "canceled", &msg->canceled, err) ||
		!proto_int64(result, "compact_revision", &msg->compact_revision, err))
		return false;
	reason = json_object_get(result, "cancel_reason");
	if (json_is_string(reason))
		proto_quote(json_string_value(reason), json_string_length(reason), msg->cancel_reason,
					sizeof(msg->cancel_reason));

	events = json_object_get(result, "events");
	if (events == NULL || json_is_null(events))
		return true;
	if (!json_is_array(events))
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "field \"events\" is not an array");
		return false;
	}
	if (json_array_size(events) == 0)
		return true;
	msg->events = calloc(json_array_size(events), sizeof(StoreEvent));
	if (msg->events == NULL)
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "out of memory for %zu events", json_array_size(events));
		return false;
	}
	for (size_t i = 0; i < json_array_size(events); i++)
	{
		if (!proto_parse_event(json_array_get(events, i), &msg->events[i], err))
			return false;
		msg->n_events = i + 1;
	}
	return true;
}

bool
etcd_proto_parse_watch_message(const char *text, size_t len, EtcdWatchMessage *msg, StoreError *err)
{
	json_t	   *root;
	json_t	   *result;

	memset(msg, 0, sizeof(*msg));
	root = proto_load(text, len, err);
	if (root == NULL)
		return false;
	result = json_object_get(root, "result");
	if (json_is_object(result))
	{
		if (!proto_parse_watch_result(result, msg, err))
		{
			etcd_watch_message_finish(msg);
			json_decref(root);
			return false;
		}
	}
	else if (result == NULL && json_object_get(root, "error") != NULL)
		proto_error_from_json(root, 0, &msg->error, &msg->error_action);
	else
	{
		store_error_set(err, STORE_ERR_PROTOCOL, "watch message has neither a result nor an error");
		json_decref(root);
		return false;
	}
	json_decref(root);
	return true;
}

void
etcd_watch_stream_init(EtcdWatchStream *stream, size_t max_message)
{
	buf_init(&stream->line, max_message);
	stream->discarding = false;
}

void
etcd_watch_stream_finish(EtcdWatchStream *stream)
{
	buf_finish(&stream->line);
	stream->discarding = false;
}

void
etcd_watch_stream_reset(EtcdWatchStream *stream)
{
	buf_reset(&stream->line);
	stream->discarding = false;
}

bool
etcd_watch_stream_feed(EtcdWatchStream *stream, const char *data, size_t len, size_t *used,
					   EtcdWatchMessage *msg, bool *have, StoreError *err)
{
	const char *nl;
	size_t		take;
	size_t		n;
	bool		ok;

	*have = false;
	*used = 0;
	if (len == 0)
		return true;
	nl = memchr(data, '\n', len);
	take = nl != NULL ? (size_t) (nl - data) : len;
	*used = nl != NULL ? take + 1 : len;

	if (stream->discarding)
	{
		if (nl != NULL)
			stream->discarding = false;
		return true;
	}
	if (take > stream->line.max - stream->line.len)
	{
		size_t		max = stream->line.max;

		buf_reset(&stream->line);
		stream->discarding = (nl == NULL);
		store_error_set(err, STORE_ERR_TOO_LARGE, "watch message exceeds the limit of %zu bytes", max);
		return false;
	}
	if (!buf_append(&stream->line, data, take))
	{
		buf_reset(&stream->line);
		stream->discarding = (nl == NULL);
		store_error_set(err, STORE_ERR_PROTOCOL, "out of memory for a watch message");
		return false;
	}
	if (nl == NULL)
		return true;

	/* a complete line: skip it when blank, parse it otherwise */
	n = stream->line.len;
	while (n > 0 && (stream->line.data[n - 1] == '\r' || stream->line.data[n - 1] == ' ' ||
					 stream->line.data[n - 1] == '\t'))
		n--;
	if (n == 0)
	{
		buf_reset(&stream->line);
		return true;
	}
	ok = etcd_proto_parse_watch_message(stream->line.data, n, msg, err);
	buf_reset(&stream->line);
	*have = ok;
	return ok;
}
