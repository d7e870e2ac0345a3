/*
 * src/keeper/keeper_state.c
 *    keeperstate and dbstate: JSON with jansson, written through keeper_file_write_atomic.
 */
#include "keeper/keeper_state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define STATE_MAX_BYTES 4096

char *
keeper_file_read(const char *path, size_t max, size_t *len)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	char	   *data;
	size_t		used = 0;

	if (fd < 0)
		return NULL;
	if ((data = malloc(max + 1)) == NULL)
	{
		close(fd);
		return NULL;
	}
	for (;;)
	{
		ssize_t		n = read(fd, data + used, max - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			int			save = errno;

			free(data);
			close(fd);
			errno = save;
			return NULL;
		}
		if (n == 0 || used + (size_t) n == max)
		{
			used += (size_t) n;
			break;
		}
		used += (size_t) n;
	}
	close(fd);
	data[used] = '\0';
	if (len)
		*len = used;
	return data;
}

bool
keeper_file_write_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
	char		tmp[PATH_MAX];
	char		dir[PATH_MAX];
	int			fd;
	size_t		off = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
	{
		log_error("could not create \"%s\": %m", tmp);
		return false;
	}
	while (off < len)
	{
		ssize_t		n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			log_error("could not write \"%s\": %m", tmp);
			close(fd);
			unlink(tmp);
			return false;
		}
		off += (size_t) n;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
	{
		log_error("could not fsync \"%s\": %m", tmp);
		unlink(tmp);
		return false;
	}
	if (rename(tmp, path) < 0)
	{
		log_error("could not rename \"%s\" to \"%s\": %m", tmp, path);
		unlink(tmp);
		return false;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
	{
		if (fsync(fd) < 0)
			log_warn("could not fsync the directory of \"%s\": %m", path);
		close(fd);
	}
	return true;
}

static json_t *
state_load(const char *path, bool *found, bool *ok)
{
	size_t		len;
	char	   *text = keeper_file_read(path, STATE_MAX_BYTES, &len);
	json_error_t jerr;
	json_t	   *doc;

	*ok = true;
	*found = false;
	if (text == NULL)
	{
		if (errno == ENOENT)
			return NULL;
		log_error("could not read \"%s\": %m", path);
		*ok = false;
		return NULL;
	}
	doc = json_loadb(text, len, 0, &jerr);
	free(text);
	if (doc == NULL || !json_is_object(doc))
	{
		log_error("invalid state file \"%s\": %s", path, doc ? "not an object" : jerr.text);
		json_decref(doc);
		*ok = false;
		return NULL;
	}
	*found = true;
	return doc;
}

static bool
state_get_uid(json_t *doc, const char *name, char *out, const char *path)
{
	json_t	   *v = json_object_get(doc, name);

	out[0] = '\0';
	if (v == NULL)
		return true;
	if (!json_is_string(v) || (json_string_length(v) > 0 && !uid_is_valid(json_string_value(v))))
	{
		log_error("invalid state file \"%s\": bad %s", path, name);
		return false;
	}
	snprintf(out, UID_SIZE, "%s", json_string_value(v));
	return true;
}

static bool
state_save(const char *path, json_t *doc)
{
	char	   *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
	bool		ok;

	json_decref(doc);
	if (text == NULL)
	{
		log_error("out of memory writing \"%s\"", path);
		return false;
	}
	ok = keeper_file_write_atomic(path, text, strlen(text), 0600);
	free(text);
	return ok;
}

bool
keeper_state_read(const char *path, KeeperLocalState *out, bool *found)
{
	bool		ok;
	json_t	   *doc = state_load(path, found, &ok);

	memset(out, 0, sizeof(*out));
	if (doc == NULL)
		return ok;
	ok = state_get_uid(doc, "uid", out->uid, path) && state_get_uid(doc, "clusterUID", out->cluster_uid, path);
	json_decref(doc);
	return ok;
}

bool
keeper_state_write(const char *path, const KeeperLocalState *s)
{
	return state_save(path, json_pack("{s:s, s:s}", "uid", s->uid, "clusterUID", s->cluster_uid));
}

const char *
db_phase_to_string(DbPhase phase)
{
	switch (phase)
	{
		case DB_PHASE_READY:
			return "ready";
		case DB_PHASE_INITDB:
			return "initdb";
		case DB_PHASE_INITIALIZED:
			return "initialized";
		case DB_PHASE_REWIND:
			return "rewind";
		case DB_PHASE_BASEBACKUP:
			return "basebackup";
		case DB_PHASE_CATCHING_UP:
			return "catching_up";
		case DB_PHASE_PROMOTING:
			return "promoting";
		case DB_PHASE_UNKNOWN:
			return "unknown";
	}
	return "unknown";
}

bool
db_phase_from_string(const char *s, DbPhase *out)
{
	for (int p = DB_PHASE_READY; p < DB_PHASE_COUNT; p++)
		if (strcmp(s, db_phase_to_string((DbPhase) p)) == 0)
		{
			*out = (DbPhase) p;
			return true;
		}
	return false;
}

bool
db_state_read(const char *path, DbLocalState *out, bool *found)
{
	bool		ok;
	json_t	   *doc = state_load(path, found, &ok);
	json_t	   *gen,
			   *init,
			   *phase,
			   *rewound;

	memset(out, 0, sizeof(*out));
	if (doc == NULL)
		return ok;
	ok = state_get_uid(doc, "uid", out->uid, path);
	gen = json_object_get(doc, "generation");
	init = json_object_get(doc, "initializing");
	phase = json_object_get(doc, "phase");
	rewound = json_object_get(doc, "rewound");
	if (ok && ((gen && !json_is_integer(gen)) || (init && !json_is_boolean(init)) ||
			   (phase && (!json_is_string(phase) || !db_phase_from_string(json_string_value(phase), &out->phase))) ||
			   (rewound && !json_is_boolean(rewound))))
	{
		log_error("invalid state file \"%s\": bad generation, phase, rewound or initializing", path);
		ok = false;
	}
	if (ok)
	{
		out->generation = gen ? json_integer_value(gen) : 0;
		/* a keeper before phases wrote only "initializing": what it was doing is not known, so redo it all */
		if (phase == NULL && init && json_is_true(init))
			out->phase = DB_PHASE_UNKNOWN;
		out->rewound = rewound ? json_is_true(rewound) : false;
	}
	json_decref(doc);
	return ok;
}

bool
db_state_write(const char *path, const DbLocalState *s)
{
	/* "initializing" stays for a downgrade: an older keeper then redoes whatever was in progress */
	return state_save(path, json_pack("{s:s, s:I, s:s, s:b, s:b}", "uid", s->uid,
									  "generation", (json_int_t) s->generation,
									  "phase", db_phase_to_string(s->phase), "rewound", s->rewound,
									  "initializing", s->phase != DB_PHASE_READY));
}
