/*
 * src/common/store_opts.c
 *    The shared store flags and the cluster key layout.
 */
#include "store_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

void
store_options_init(StoreOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->cluster_name = "";
	o->endpoints = "http://127.0.0.1:2379";
	o->prefix = "/bulwark";
	o->ca_file = "";
	o->cert_file = "";
	o->key_file = "";
	o->user = "";
	o->password_file = "";
	o->timeout_ms = 5000;
	o->log_level = "info";

	OptDef		t[] = {
		{"cluster-name", 0, OPT_TYPE_STRING, &o->cluster_name, "NAME", "cluster name (required)"},
		{"store-endpoints", 0, OPT_TYPE_STRING, &o->endpoints, "URLS", "comma-separated etcd v3 client URLs"},
		{"store-prefix", 0, OPT_TYPE_STRING, &o->prefix, "PATH", "key prefix of all clusters in the store"},
		{"store-ca-file", 0, OPT_TYPE_STRING, &o->ca_file, "FILE", "CA bundle to verify https endpoints"},
		{"store-cert-file", 0, OPT_TYPE_STRING, &o->cert_file, "FILE", "TLS client certificate"},
		{"store-key-file", 0, OPT_TYPE_STRING, &o->key_file, "FILE", "TLS client key"},
		{"store-user", 0, OPT_TYPE_STRING, &o->user, "USER", "etcd user (auth enabled)"},
		{"store-password-file", 0, OPT_TYPE_STRING, &o->password_file, "FILE", "file holding the etcd user's password"},
		{"store-timeout", 0, OPT_TYPE_DURATION, &o->timeout_ms, "DURATION", "deadline of one store request"},
		{"log-level", 0, OPT_TYPE_STRING, &o->log_level, "LEVEL", "debug, info, warn or error"},
		OPT_END,
	};

	_Static_assert(sizeof(t) == sizeof(o->table), "store option table size");
	memcpy(o->table, t, sizeof(t));
}

bool
store_options_apply_log_level(const StoreOptions *o, char *err, size_t errlen)
{
	LogLevel	level;

	if (!log_level_from_string(o->log_level, &level))
	{
		snprintf(err, errlen, "--log-level: unknown level \"%s\" (expected debug, info, warn or error)", o->log_level);
		return false;
	}
	log_set_level(level);
	return true;
}

bool
store_options_validate(const StoreOptions *o, char *err, size_t errlen)
{
	size_t		len = strlen(o->cluster_name);

	if (len == 0)
	{
		snprintf(err, errlen, "--cluster-name is required (or set BULWARK_CLUSTER_NAME)");
		return false;
	}
	if (len > 100 || strspn(o->cluster_name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
	{
		snprintf(err, errlen, "--cluster-name: \"%s\" must be 1-100 characters of letters, digits, '_', '.' and '-'",
				 o->cluster_name);
		return false;
	}
	if (o->prefix[0] != '/' || strlen(o->prefix) > 200)
	{
		snprintf(err, errlen, "--store-prefix: \"%s\" must start with '/' and be at most 200 characters", o->prefix);
		return false;
	}
	if (o->endpoints[0] == '\0')
	{
		snprintf(err, errlen, "--store-endpoints is empty");
		return false;
	}
	if (o->timeout_ms <= 0)
	{
		snprintf(err, errlen, "--store-timeout: must be greater than 0");
		return false;
	}
	if ((o->cert_file[0] != '\0') != (o->key_file[0] != '\0'))
	{
		snprintf(err, errlen, "--store-cert-file and --store-key-file go together: give both or neither");
		return false;
	}
	if (o->user[0] != '\0' && o->password_file[0] == '\0')
	{
		snprintf(err, errlen, "--store-user needs --store-password-file");
		return false;
	}
	return true;
}

bool
read_secret_file(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	struct stat st;
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t		n;
	size_t		len = 0;

	if (fd < 0)
	{
		snprintf(err, errlen, "could not open password file \"%s\": %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		log_warn("password file \"%s\" is accessible by group or others; chmod 600 it", path);
	while ((n = read(fd, out + len, outlen - 1 - len)) > 0)
	{
		len += (size_t) n;
		if (len == outlen - 1)
		{
			char		extra;

			if (read(fd, &extra, 1) > 0)
			{
				close(fd);
				snprintf(err, errlen, "password file \"%s\" is too long (at most %zu bytes)", path, outlen - 1);
				return false;
			}
			break;
		}
	}
	if (n < 0)
	{
		snprintf(err, errlen, "could not read password file \"%s\": %s", path, strerror(errno));
		close(fd);
		return false;
	}
	close(fd);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		len--;
	out[len] = '\0';
	if (len == 0)
	{
		snprintf(err, errlen, "password file \"%s\" is empty", path);
		return false;
	}
	return true;
}

bool
store_options_open(const StoreOptions *o, Store **out, char *err, size_t errlen)
{
	char		password[1024] = "";
	StoreConfig config = {
		.endpoints = o->endpoints,
		.ca_file = o->ca_file[0] ? o->ca_file : NULL,
		.cert_file = o->cert_file[0] ? o->cert_file : NULL,
		.key_file = o->key_file[0] ? o->key_file : NULL,
		.user = o->user[0] ? o->user : NULL,
		.password = NULL,
		.request_timeout_ms = o->timeout_ms,
		.connect_timeout_ms = o->timeout_ms < 1000 ? o->timeout_ms : 1000,
	};
	StoreError serr;
	bool		ok;

	if (config.user)
	{
		if (!read_secret_file(o->password_file, password, sizeof(password), err, errlen))
			return false;
		config.password = password;
	}
	ok = store_new(&config, out, &serr);
	explicit_bzero(password, sizeof(password));
	if (!ok)
	{
		snprintf(err, errlen, "%s", serr.message);
		return false;
	}
	return true;
}

void
store_options_key(const StoreOptions *o, const char *rel, char *out, size_t outlen)
{
	size_t		plen = strlen(o->prefix);

	/* "/bulwark/" and "/bulwark" give the same keys; "/" gives "/<cluster>/" */
	while (plen > 0 && o->prefix[plen - 1] == '/')
		plen--;
	snprintf(out, outlen, "%.*s/%s/%s", (int) plen, o->prefix, o->cluster_name, rel);
}
