/*
 * src/common/cluster.c
 *    The cluster data model in memory: enum names, lists and parameter maps, the spec's defaults (one table) and
 *    validation rules, and the life cycle (init, finish, deep copy) and lookups of every cluster data type.
 */
#include "cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "duration.h"

/* ---- enums ---- */

const char *
cluster_phase_to_string(ClusterPhase v)
{
	switch (v)
	{
		case CLUSTER_PHASE_INITIALIZING:
			return "initializing";
		case CLUSTER_PHASE_NORMAL:
			return "normal";
	}
	return "unknown";
}

const char *
cluster_role_to_string(ClusterRole v)
{
	switch (v)
	{
		case CLUSTER_ROLE_MASTER:
			return "master";
		case CLUSTER_ROLE_STANDBY:
			return "standby";
	}
	return "unknown";
}

const char *
init_mode_to_string(InitMode v)
{
	switch (v)
	{
		case INIT_MODE_NONE:
			return "none";
		case INIT_MODE_NEW:
			return "new";
		case INIT_MODE_EXISTING:
			return "existing";
		case INIT_MODE_PITR:
			return "pitr";
		case INIT_MODE_RESYNC:
			return "resync";
	}
	return "unknown";
}

const char *
db_role_to_string(DbRole v)
{
	switch (v)
	{
		case DB_ROLE_MASTER:
			return "master";
		case DB_ROLE_STANDBY:
			return "standby";
	}
	return "unknown";
}

const char *
follow_type_to_string(FollowType v)
{
	switch (v)
	{
		case FOLLOW_TYPE_INTERNAL:
			return "internal";
		case FOLLOW_TYPE_EXTERNAL:
			return "external";
	}
	return "unknown";
}

const char *
su_repl_access_mode_to_string(SuReplAccessMode v)
{
	switch (v)
	{
		case SU_REPL_ACCESS_ALL:
			return "all";
		case SU_REPL_ACCESS_STRICT:
			return "strict";
	}
	return "unknown";
}

const char *
switchover_phase_to_string(SwitchoverPhase v)
{
	switch (v)
	{
		case SWITCHOVER_PHASE_REQUESTED:
			return "requested";
		case SWITCHOVER_PHASE_FENCING:
			return "fencing";
		case SWITCHOVER_PHASE_DEMOTING:
			return "demoting";
		case SWITCHOVER_PHASE_CATCHING_UP:
			return "catching_up";
	}
	return "unknown";
}

/* x_from_string: the inverse of x_to_string over the enum's values first..last. */
#define ENUM_FROM_STRING(func, Type, to_string, first, last) \
bool \
func(const char *s, Type *out) \
{ \
	for (int v = (first); v <= (last); v++) \
	{ \
		if (s != NULL && strcmp(s, to_string((Type) v)) == 0) \
		{ \
			*out = (Type) v; \
			return true; \
		} \
	} \
	return false; \
}

ENUM_FROM_STRING(cluster_phase_from_string, ClusterPhase, cluster_phase_to_string,
				 CLUSTER_PHASE_INITIALIZING, CLUSTER_PHASE_NORMAL)
ENUM_FROM_STRING(cluster_role_from_string, ClusterRole, cluster_role_to_string,
				 CLUSTER_ROLE_MASTER, CLUSTER_ROLE_STANDBY)
ENUM_FROM_STRING(init_mode_from_string, InitMode, init_mode_to_string, INIT_MODE_NONE, INIT_MODE_RESYNC)
ENUM_FROM_STRING(db_role_from_string, DbRole, db_role_to_string, DB_ROLE_MASTER, DB_ROLE_STANDBY)
ENUM_FROM_STRING(follow_type_from_string, FollowType, follow_type_to_string,
				 FOLLOW_TYPE_INTERNAL, FOLLOW_TYPE_EXTERNAL)
ENUM_FROM_STRING(switchover_phase_from_string, SwitchoverPhase, switchover_phase_to_string,
				 SWITCHOVER_PHASE_REQUESTED, SWITCHOVER_PHASE_CATCHING_UP)
ENUM_FROM_STRING(su_repl_access_mode_from_string, SuReplAccessMode, su_repl_access_mode_to_string,
				 SU_REPL_ACCESS_ALL, SU_REPL_ACCESS_STRICT)

/* ---- messages ---- */

const char *
cluster_text_quote(const char *s, char *buf, size_t size)
{
	size_t		used = 0;
	size_t		i;

	if (size < 8)
	{
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	buf[used++] = '"';
	for (i = 0; s[i] != '\0' && i < 64; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[8];
		size_t		n;

		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\t')
			snprintf(esc, sizeof(esc), "\\t");
		else if (c < 0x20 || c == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		else
			snprintf(esc, sizeof(esc), "%c", c);
		n = strlen(esc);
		if (used + n + 5 > size)
			break;
		memcpy(buf + used, esc, n);
		used += n;
	}
	if (s[i] != '\0' && used + 5 <= size)
	{
		memcpy(buf + used, "...", 3);
		used += 3;
	}
	buf[used++] = '"';
	buf[used] = '\0';
	return buf;
}

static bool
fail(char *err, size_t errlen, const char *fmt,...) __attribute__((format(printf, 3, 4)));

static bool
fail(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	if (err != NULL && errlen > 0)
	{
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* dup_text: *dst = a copy of src (NULL stays NULL); false when out of memory. */
static bool
dup_text(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return true;
	*dst = strdup(src);
	return *dst != NULL;
}

/* ---- StringList ---- */

void
string_list_init(StringList *l)
{
	l->items = NULL;
	l->count = 0;
}

void
string_list_finish(StringList *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	string_list_init(l);
}

bool
string_list_append(StringList *l, const char *s)
{
	char	  **items;
	char	   *copy = strdup(s);

	if (copy == NULL)
		return false;
	items = realloc(l->items, (l->count + 1) * sizeof(*items));
	if (items == NULL)
	{
		free(copy);
		return false;
	}
	items[l->count++] = copy;
	l->items = items;
	return true;
}

bool
string_list_copy(StringList *dst, const StringList *src)
{
	string_list_init(dst);
	for (size_t i = 0; i < src->count; i++)
	{
		if (!string_list_append(dst, src->items[i]))
		{
			string_list_finish(dst);
			return false;
		}
	}
	return true;
}

bool
string_list_contains(const StringList *l, const char *s)
{
	for (size_t i = 0; i < l->count; i++)
		if (strcmp(l->items[i], s) == 0)
			return true;
	return false;
}

bool
string_list_equal(const StringList *a, const StringList *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i], b->items[i]) != 0)
			return false;
	return true;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

void
string_list_sort(StringList *l)
{
	if (l->count > 1)
		qsort(l->items, l->count, sizeof(l->items[0]), compare_strings);
}

size_t
string_list_remove(StringList *l, const char *s)
{
	size_t		kept = 0;
	size_t		removed = 0;

	for (size_t i = 0; i < l->count; i++)
	{
		if (strcmp(l->items[i], s) == 0)
		{
			free(l->items[i]);
			removed++;
		}
		else
			l->items[kept++] = l->items[i];
	}
	l->count = kept;
	if (kept == 0)
	{
		free(l->items);
		l->items = NULL;
	}
	return removed;
}

/* ---- PgParameters ---- */

void
pg_parameters_init(PgParameters *p)
{
	p->items = NULL;
	p->count = 0;
}

void
pg_parameters_finish(PgParameters *p)
{
	for (size_t i = 0; i < p->count; i++)
	{
		free(p->items[i].name);
		free(p->items[i].value);
	}
	free(p->items);
	pg_parameters_init(p);
}

/* The index of name, or where it would be inserted (*found false). */
static size_t
pg_parameters_search(const PgParameters *p, const char *name, bool *found)
{
	size_t		lo = 0;
	size_t		hi = p->count;

	*found = false;
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			c = strcmp(p->items[mid].name, name);

		if (c == 0)
		{
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool
pg_parameters_set(PgParameters *p, const char *name, const char *value)
{
	bool		found;
	size_t		at = pg_parameters_search(p, name, &found);
	char	   *v = strdup(value);
	char	   *n;
	PgParameter *items;

	if (v == NULL)
		return false;
	if (found)
	{
		free(p->items[at].value);
		p->items[at].value = v;
		return true;
	}
	n = strdup(name);
	items = n != NULL ? realloc(p->items, (p->count + 1) * sizeof(*items)) : NULL;
	if (items == NULL)
	{
		free(n);
		free(v);
		return false;
	}
	memmove(&items[at + 1], &items[at], (p->count - at) * sizeof(*items));
	items[at].name = n;
	items[at].value = v;
	p->items = items;
	p->count++;
	return true;
}

const char *
pg_parameters_get(const PgParameters *p, const char *name)
{
	bool		found;
	size_t		at = pg_parameters_search(p, name, &found);

	return found ? p->items[at].value : NULL;
}

bool
pg_parameters_remove(PgParameters *p, const char *name)
{
	bool		found;
	size_t		at = pg_parameters_search(p, name, &found);

	if (!found)
		return false;
	free(p->items[at].name);
	free(p->items[at].value);
	memmove(&p->items[at], &p->items[at + 1], (p->count - at - 1) * sizeof(p->items[0]));
	p->count--;
	if (p->count == 0)
	{
		free(p->items);
		p->items = NULL;
	}
	return true;
}

bool
pg_parameters_copy(PgParameters *dst, const PgParameters *src)
{
	pg_parameters_init(dst);
	if (src->count == 0)
		return true;
	dst->items = calloc(src->count, sizeof(dst->items[0]));
	if (dst->items == NULL)
		return false;
	for (size_t i = 0; i < src->count; i++)
	{
		dst->count++;
		if (!dup_text(&dst->items[i].name, src->items[i].name) ||
			!dup_text(&dst->items[i].value, src->items[i].value))
		{
			pg_parameters_finish(dst);
			return false;
		}
	}
	return true;
}

bool
pg_parameters_equal(const PgParameters *a, const PgParameters *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i].name, b->items[i].name) != 0 || strcmp(a->items[i].value, b->items[i].value) != 0)
			return false;
	return true;
}

/* Sorted, so a binary search would do; the list is short and read rarely, so a scan keeps it readable. */
static const char *const managed_pg_parameters[] = {
	"config_file",
	"data_directory",
	"external_pid_file",
	"hba_file",
	"hot_standby",
	"ident_file",
	"listen_addresses",
	"max_replication_slots",
	"max_wal_senders",
	"port",
	"primary_conninfo",
	"primary_slot_name",
	"promote_trigger_file",
	"recovery_min_apply_delay",
	"recovery_target",
	"recovery_target_action",
	"recovery_target_inclusive",
	"recovery_target_lsn",
	"recovery_target_name",
	"recovery_target_time",
	"recovery_target_timeline",
	"recovery_target_xid",
	"restore_command",
	"standby_mode",
	"synchronous_standby_names",
	"trigger_file",
	"unix_socket_directories",
	"wal_level",
	"wal_log_hints",
};

bool
cluster_pg_parameter_is_managed(const char *name)
{
	for (size_t i = 0; i < sizeof(managed_pg_parameters) / sizeof(managed_pg_parameters[0]); i++)
		if (strcasecmp(name, managed_pg_parameters[i]) == 0)
			return true;
	return false;
}

/* A GUC name: a letter or underscore, then letters, digits, underscores and dots (custom "ext.name"). */
static bool
pg_parameter_name_is_valid(const char *name)
{
	size_t		n = strlen(name);

	if (n == 0 || n > CLUSTER_PG_PARAM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char		c = name[i];
		bool		alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

		if (!alpha && (i == 0 || !((c >= '0' && c <= '9') || c == '.')))
			return false;
	}
	return true;
}

/* ---- optional sub-objects ---- */

NewConfig *
new_config_new(void)
{
	return calloc(1, sizeof(NewConfig));
}

void
new_config_free(NewConfig *c)
{
	if (c == NULL)
		return;
	free(c->locale);
	free(c->encoding);
	free(c);
}

NewConfig *
new_config_dup(const NewConfig *src)
{
	NewConfig  *c;

	if (src == NULL || (c = new_config_new()) == NULL)
		return NULL;
	c->data_checksums = src->data_checksums;
	if (!dup_text(&c->locale, src->locale) || !dup_text(&c->encoding, src->encoding))
	{
		new_config_free(c);
		return NULL;
	}
	return c;
}

ArchiveRecoverySettings *
archive_recovery_settings_new(void)
{
	return calloc(1, sizeof(ArchiveRecoverySettings));
}

void
archive_recovery_settings_free(ArchiveRecoverySettings *s)
{
	if (s == NULL)
		return;
	free(s->restore_command);
	free(s);
}

ArchiveRecoverySettings *
archive_recovery_settings_dup(const ArchiveRecoverySettings *src)
{
	ArchiveRecoverySettings *s;

	if (src == NULL || (s = archive_recovery_settings_new()) == NULL)
		return NULL;
	if (!dup_text(&s->restore_command, src->restore_command))
	{
		archive_recovery_settings_free(s);
		return NULL;
	}
	return s;
}

RecoveryTargetSettings *
recovery_target_settings_new(void)
{
	return calloc(1, sizeof(RecoveryTargetSettings));
}

void
recovery_target_settings_free(RecoveryTargetSettings *s)
{
	if (s == NULL)
		return;
	free(s->recovery_target);
	free(s->recovery_target_lsn);
	free(s->recovery_target_name);
	free(s->recovery_target_time);
	free(s->recovery_target_xid);
	free(s->recovery_target_timeline);
	free(s);
}

RecoveryTargetSettings *
recovery_target_settings_dup(const RecoveryTargetSettings *src)
{
	RecoveryTargetSettings *s;

	if (src == NULL || (s = recovery_target_settings_new()) == NULL)
		return NULL;
	if (!dup_text(&s->recovery_target, src->recovery_target) ||
		!dup_text(&s->recovery_target_lsn, src->recovery_target_lsn) ||
		!dup_text(&s->recovery_target_name, src->recovery_target_name) ||
		!dup_text(&s->recovery_target_time, src->recovery_target_time) ||
		!dup_text(&s->recovery_target_xid, src->recovery_target_xid) ||
		!dup_text(&s->recovery_target_timeline, src->recovery_target_timeline))
	{
		recovery_target_settings_free(s);
		return NULL;
	}
	return s;
}

StandbySettings *
standby_settings_new(void)
{
	return calloc(1, sizeof(StandbySettings));
}

void
standby_settings_free(StandbySettings *s)
{
	if (s == NULL)
		return;
	free(s->primary_conninfo);
	free(s->primary_slot_name);
	free(s->recovery_min_apply_delay);
	free(s);
}

StandbySettings *
standby_settings_dup(const StandbySettings *src)
{
	StandbySettings *s;

	if (src == NULL || (s = standby_settings_new()) == NULL)
		return NULL;
	if (!dup_text(&s->primary_conninfo, src->primary_conninfo) ||
		!dup_text(&s->primary_slot_name, src->primary_slot_name) ||
		!dup_text(&s->recovery_min_apply_delay, src->recovery_min_apply_delay))
	{
		standby_settings_free(s);
		return NULL;
	}
	return s;
}

PitrConfig *
pitr_config_new(void)
{
	return calloc(1, sizeof(PitrConfig));
}

void
pitr_config_free(PitrConfig *c)
{
	if (c == NULL)
		return;
	free(c->data_restore_command);
	archive_recovery_settings_free(c->archive_recovery_settings);
	recovery_target_settings_free(c->recovery_target_settings);
	free(c);
}

PitrConfig *
pitr_config_dup(const PitrConfig *src)
{
	PitrConfig *c;

	if (src == NULL || (c = pitr_config_new()) == NULL)
		return NULL;
	if (!dup_text(&c->data_restore_command, src->data_restore_command) ||
		(src->archive_recovery_settings != NULL &&
		 (c->archive_recovery_settings = archive_recovery_settings_dup(src->archive_recovery_settings)) == NULL) ||
		(src->recovery_target_settings != NULL &&
		 (c->recovery_target_settings = recovery_target_settings_dup(src->recovery_target_settings)) == NULL))
	{
		pitr_config_free(c);
		return NULL;
	}
	return c;
}

ExistingConfig *
existing_config_new(void)
{
	return calloc(1, sizeof(ExistingConfig));
}

void
existing_config_free(ExistingConfig *c)
{
	free(c);
}

Maintenance *
maintenance_new(void)
{
	return calloc(1, sizeof(Maintenance));
}

void
maintenance_free(Maintenance *m)
{
	free(m);
}

Maintenance *
maintenance_dup(const Maintenance *src)
{
	Maintenance *m;

	if (src == NULL || (m = maintenance_new()) == NULL)
		return NULL;
	*m = *src;
	return m;
}

Switchover *
switchover_new(void)
{
	return calloc(1, sizeof(Switchover));
}

void
switchover_free(Switchover *s)
{
	free(s);
}

Switchover *
switchover_dup(const Switchover *src)
{
	Switchover *s;

	if (src == NULL || (s = switchover_new()) == NULL)
		return NULL;
	*s = *src;
	return s;
}

ExistingConfig *
existing_config_dup(const ExistingConfig *src)
{
	ExistingConfig *c;

	if (src == NULL || (c = existing_config_new()) == NULL)
		return NULL;
	*c = *src;
	return c;
}

StandbyConfig *
standby_config_new(void)
{
	return calloc(1, sizeof(StandbyConfig));
}

void
standby_config_free(StandbyConfig *c)
{
	if (c == NULL)
		return;
	standby_settings_free(c->standby_settings);
	archive_recovery_settings_free(c->archive_recovery_settings);
	free(c);
}

StandbyConfig *
standby_config_dup(const StandbyConfig *src)
{
	StandbyConfig *c;

	if (src == NULL || (c = standby_config_new()) == NULL)
		return NULL;
	if ((src->standby_settings != NULL &&
		 (c->standby_settings = standby_settings_dup(src->standby_settings)) == NULL) ||
		(src->archive_recovery_settings != NULL &&
		 (c->archive_recovery_settings = archive_recovery_settings_dup(src->archive_recovery_settings)) == NULL))
	{
		standby_config_free(c);
		return NULL;
	}
	return c;
}

FollowConfig *
follow_config_new(void)
{
	return calloc(1, sizeof(FollowConfig));
}

void
follow_config_free(FollowConfig *c)
{
	if (c == NULL)
		return;
	standby_settings_free(c->standby_settings);
	archive_recovery_settings_free(c->archive_recovery_settings);
	free(c);
}

FollowConfig *
follow_config_dup(const FollowConfig *src)
{
	FollowConfig *c;

	if (src == NULL || (c = follow_config_new()) == NULL)
		return NULL;
	c->type = src->type;
	memcpy(c->db_uid, src->db_uid, sizeof(c->db_uid));
	if ((src->standby_settings != NULL &&
		 (c->standby_settings = standby_settings_dup(src->standby_settings)) == NULL) ||
		(src->archive_recovery_settings != NULL &&
		 (c->archive_recovery_settings = archive_recovery_settings_dup(src->archive_recovery_settings)) == NULL))
	{
		follow_config_free(c);
		return NULL;
	}
	return c;
}

static StringList *
string_list_dup(const StringList *src)
{
	StringList *l = malloc(sizeof(*l));

	if (l == NULL)
		return NULL;
	if (!string_list_copy(l, src))
	{
		free(l);
		return NULL;
	}
	return l;
}

static void
string_list_free(StringList *l)
{
	if (l == NULL)
		return;
	string_list_finish(l);
	free(l);
}

/* ---- ClusterSpec ---- */

/*
 * The defaults, all of them. Provisional, to be tuned by measurement (the sentinel issue): docs/design.md section 4 wants an
 * unplanned failover done in <= 6 s on a LAN, so the loops run every second and a keeper is failed after 3 s
 * without a fresh report; detection (failInterval 3s + up to one sleepInterval of staleness) plus the sentinel's
 * next pass, the keeper's promote pass and the proxies' handshake (proxyCheckInterval 1s) fit in the budget.
 * maxStandbyLag is 1 MiB exactly (Stolon's default is 1024*1204 by a typo).
 */
static const ClusterSpec cluster_spec_default_values = {
	.sleep_interval_ms = 1000,
	.request_timeout_ms = 2000,
	.convergence_timeout_ms = 30000,
	.init_timeout_ms = 5 * 60 * 1000,
	.sync_timeout_ms = 0,
	.db_wait_ready_timeout_ms = 60000,
	.fail_interval_ms = 3000,
	.dead_keeper_removal_interval_ms = 48 * 3600 * 1000LL,
	.proxy_check_interval_ms = 1000,
	.proxy_timeout_ms = 3000,
	.max_standbys = 20,
	.max_standbys_per_sender = 3,
	.max_standby_lag = 1024 * 1024,
	.max_read_only_lag = 1024 * 1024,
	.synchronous_replication = false,
	.min_synchronous_standbys = 1,
	.max_synchronous_standbys = 1,
	.additional_wal_senders = 5,
	.additional_master_replication_slots = {NULL, 0},
	.use_pg_rewind = true,
	.init_mode = INIT_MODE_NONE,
	.merge_pg_parameters = true,
	.role = CLUSTER_ROLE_MASTER,
	.new_config = NULL,
	.pitr_config = NULL,
	.existing_config = NULL,
	.standby_config = NULL,
	.default_su_repl_access_mode = SU_REPL_ACCESS_ALL,
	.pg_parameters = {NULL, 0},
	.pg_hba = NULL,
	.automatic_pg_restart = false,
	.failsafe_mode = true,
};

void
cluster_spec_defaults(ClusterSpec *spec)
{
	*spec = cluster_spec_default_values;
}

void
cluster_spec_finish(ClusterSpec *spec)
{
	string_list_finish(&spec->additional_master_replication_slots);
	new_config_free(spec->new_config);
	pitr_config_free(spec->pitr_config);
	existing_config_free(spec->existing_config);
	standby_config_free(spec->standby_config);
	pg_parameters_finish(&spec->pg_parameters);
	string_list_free(spec->pg_hba);
	cluster_spec_defaults(spec);
}

bool
cluster_spec_copy(ClusterSpec *dst, const ClusterSpec *src)
{
	*dst = *src;
	string_list_init(&dst->additional_master_replication_slots);
	pg_parameters_init(&dst->pg_parameters);
	dst->new_config = NULL;
	dst->pitr_config = NULL;
	dst->existing_config = NULL;
	dst->standby_config = NULL;
	dst->pg_hba = NULL;

	if (!string_list_copy(&dst->additional_master_replication_slots, &src->additional_master_replication_slots) ||
		!pg_parameters_copy(&dst->pg_parameters, &src->pg_parameters) ||
		(src->new_config != NULL && (dst->new_config = new_config_dup(src->new_config)) == NULL) ||
		(src->pitr_config != NULL && (dst->pitr_config = pitr_config_dup(src->pitr_config)) == NULL) ||
		(src->existing_config != NULL &&
		 (dst->existing_config = existing_config_dup(src->existing_config)) == NULL) ||
		(src->standby_config != NULL && (dst->standby_config = standby_config_dup(src->standby_config)) == NULL) ||
		(src->pg_hba != NULL && (dst->pg_hba = string_list_dup(src->pg_hba)) == NULL))
	{
		cluster_spec_finish(dst);
		return false;
	}
	return true;
}

static bool
has_text(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static bool
validate_durations(const ClusterSpec *s, char *err, size_t errlen)
{
	const struct
	{
		const char *name;
		int64_t		value;
		bool		positive;	/* 0 is refused too */
	}			durations[] = {
		{"sleepInterval", s->sleep_interval_ms, true},
		{"requestTimeout", s->request_timeout_ms, true},
		{"convergenceTimeout", s->convergence_timeout_ms, false},
		{"initTimeout", s->init_timeout_ms, false},
		{"syncTimeout", s->sync_timeout_ms, false},
		{"dbWaitReadyTimeout", s->db_wait_ready_timeout_ms, true},
		{"failInterval", s->fail_interval_ms, true},
		{"deadKeeperRemovalInterval", s->dead_keeper_removal_interval_ms, true},
		{"proxyCheckInterval", s->proxy_check_interval_ms, true},
		{"proxyTimeout", s->proxy_timeout_ms, true},
	};
	char		a[DURATION_FORMAT_SIZE];

	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++)
	{
		if (durations[i].value < 0)
			return fail(err, errlen, "spec.%s: must not be negative", durations[i].name);
		if (durations[i].value > DURATION_MAX_MS)
			return fail(err, errlen, "spec.%s: too large", durations[i].name);
		if (durations[i].positive && durations[i].value == 0)
			return fail(err, errlen, "spec.%s: must be greater than 0", durations[i].name);
	}
	if (s->fail_interval_ms <= s->sleep_interval_ms)
		return fail(err, errlen, "spec.failInterval: must be greater than sleepInterval (%s)",
					duration_format(s->sleep_interval_ms, a, sizeof(a)));
	if (s->proxy_check_interval_ms >= s->proxy_timeout_ms)
		return fail(err, errlen, "spec.proxyCheckInterval: must be less than proxyTimeout (%s)",
					duration_format(s->proxy_timeout_ms, a, sizeof(a)));
	return true;
}

static bool
validate_counts(const ClusterSpec *s, char *err, size_t errlen)
{
	if (s->max_standbys < 1)
		return fail(err, errlen, "spec.maxStandbys: must be at least 1");
	if (s->max_standbys_per_sender < 1)
		return fail(err, errlen, "spec.maxStandbysPerSender: must be at least 1");
	if (s->max_standbys_per_sender > s->max_standbys)
		return fail(err, errlen, "spec.maxStandbysPerSender: must not exceed maxStandbys (%d)", s->max_standbys);
	if (s->min_synchronous_standbys < 0)
		return fail(err, errlen, "spec.minSynchronousStandbys: must not be negative");
	if (s->max_synchronous_standbys < 1)
		return fail(err, errlen, "spec.maxSynchronousStandbys: must be at least 1");
	if (s->max_synchronous_standbys < s->min_synchronous_standbys)
		return fail(err, errlen, "spec.maxSynchronousStandbys: must be at least minSynchronousStandbys (%d)",
					s->min_synchronous_standbys);
	if (s->max_standby_lag < 0)
		return fail(err, errlen, "spec.maxStandbyLag: must not be negative");
	if (s->max_read_only_lag < 0)
		return fail(err, errlen, "spec.maxReadOnlyLag: must not be negative");
	if (s->additional_wal_senders < 0)
		return fail(err, errlen, "spec.additionalWalSenders: must not be negative");
	return true;
}

static bool
validate_init(const ClusterSpec *s, char *err, size_t errlen)
{
	char		q[CLUSTER_QUOTE_SIZE];

	switch (s->init_mode)
	{
		case INIT_MODE_NEW:
			if (s->role == CLUSTER_ROLE_STANDBY)
				return fail(err, errlen, "spec.role: standby is not allowed with initMode new");
			break;
		case INIT_MODE_EXISTING:
			if (s->existing_config == NULL || s->existing_config->keeper_uid[0] == '\0')
				return fail(err, errlen, "spec.existingConfig.keeperUID: required when initMode is existing");
			if (!uid_is_valid(s->existing_config->keeper_uid))
				return fail(err, errlen,
							"spec.existingConfig.keeperUID: invalid uid %s (expected ^[a-z0-9_]+$, at most 63 characters)",
							cluster_text_quote(s->existing_config->keeper_uid, q, sizeof(q)));
			break;
		case INIT_MODE_PITR:
			if (s->pitr_config == NULL || !has_text(s->pitr_config->data_restore_command))
				return fail(err, errlen, "spec.pitrConfig.dataRestoreCommand: required when initMode is pitr");
			if (s->role == CLUSTER_ROLE_STANDBY && s->pitr_config->recovery_target_settings != NULL)
				return fail(err, errlen, "spec.pitrConfig.recoveryTargetSettings: not allowed when role is standby");
			break;
		case INIT_MODE_NONE:
		case INIT_MODE_RESYNC:
			return fail(err, errlen, "spec.initMode: required (new, existing or pitr)");
	}

	switch (s->role)
	{
		case CLUSTER_ROLE_MASTER:
			break;
		case CLUSTER_ROLE_STANDBY:
			if (s->standby_config == NULL)
				return fail(err, errlen, "spec.standbyConfig: required when role is standby");
			if (!(s->standby_config->standby_settings != NULL &&
				  has_text(s->standby_config->standby_settings->primary_conninfo)) &&
				!(s->standby_config->archive_recovery_settings != NULL &&
				  has_text(s->standby_config->archive_recovery_settings->restore_command)))
				return fail(err, errlen,
							"spec.standbyConfig: needs standbySettings.primaryConninfo or archiveRecoverySettings.restoreCommand");
			break;
	}
	return true;
}

static bool
validate_slots(const ClusterSpec *s, char *err, size_t errlen)
{
	const StringList *slots = &s->additional_master_replication_slots;
	const size_t max_len = UID_MAX_LEN - strlen(CLUSTER_SLOT_PREFIX);
	char		q[CLUSTER_QUOTE_SIZE];

	for (size_t i = 0; i < slots->count; i++)
	{
		const char *name = slots->items[i];

		if (!uid_is_valid(name) || strlen(name) > max_len)
			return fail(err, errlen,
						"spec.additionalMasterReplicationSlots[%zu]: invalid slot name %s (expected ^[a-z0-9_]+$, at most %zu characters)",
						i, cluster_text_quote(name, q, sizeof(q)), max_len);
		if (strncmp(name, CLUSTER_SLOT_PREFIX, strlen(CLUSTER_SLOT_PREFIX)) == 0)
			return fail(err, errlen,
						"spec.additionalMasterReplicationSlots[%zu]: %s starts with \"" CLUSTER_SLOT_PREFIX "\", which is reserved",
						i, cluster_text_quote(name, q, sizeof(q)));
		for (size_t j = 0; j < i; j++)
			if (strcmp(slots->items[j], name) == 0)
				return fail(err, errlen, "spec.additionalMasterReplicationSlots[%zu]: duplicate slot name %s",
							i, cluster_text_quote(name, q, sizeof(q)));
	}
	return true;
}

static bool
validate_pg_config(const ClusterSpec *s, char *err, size_t errlen)
{
	char		q[CLUSTER_QUOTE_SIZE];

	if (s->pg_hba != NULL)
	{
		for (size_t i = 0; i < s->pg_hba->count; i++)
			if (strpbrk(s->pg_hba->items[i], "\r\n") != NULL)
				return fail(err, errlen, "spec.pgHBA[%zu]: must not contain a newline", i);
	}
	for (size_t i = 0; i < s->pg_parameters.count; i++)
	{
		const PgParameter *p = &s->pg_parameters.items[i];

		if (!pg_parameter_name_is_valid(p->name))
			return fail(err, errlen, "spec.pgParameters: invalid parameter name %s",
						cluster_text_quote(p->name, q, sizeof(q)));
		if (strpbrk(p->value, "\r\n") != NULL)
			return fail(err, errlen, "spec.pgParameters.%s: value must not contain a newline", p->name);
		if (strcasecmp(p->name, "wal_level") == 0)
		{
			/* bulwark runs with replica; only raising it for logical decoding is the user's choice */
			if (strcmp(p->value, "logical") != 0)
				return fail(err, errlen, "spec.pgParameters.%s: only \"logical\" may be set (bulwark uses replica)",
							p->name);
		}
		else if (cluster_pg_parameter_is_managed(p->name))
			return fail(err, errlen, "spec.pgParameters.%s: managed by bulwark, cannot be set", p->name);
	}
	return true;
}

bool
cluster_spec_validate(const ClusterSpec *spec, char *err, size_t errlen)
{
	return validate_durations(spec, err, errlen) &&
		validate_counts(spec, err, errlen) &&
		validate_init(spec, err, errlen) &&
		validate_slots(spec, err, errlen) &&
		validate_pg_config(spec, err, errlen);
}

bool
cluster_spec_validate_update(const ClusterSpec *old, const ClusterSpec *new_spec, char *err, size_t errlen)
{
	if (!cluster_spec_validate(new_spec, err, errlen))
		return false;
	if (new_spec->init_mode != old->init_mode)
		return fail(err, errlen, "spec.initMode: cannot be changed (it is %s)", init_mode_to_string(old->init_mode));
	if (old->role == CLUSTER_ROLE_MASTER && new_spec->role == CLUSTER_ROLE_STANDBY)
		return fail(err, errlen, "spec.role: cannot change from master to standby");
	return true;
}

/* ---- TimelinesHistory ---- */

void
timelines_history_init(TimelinesHistory *h)
{
	h->items = NULL;
	h->count = 0;
}

void
timelines_history_finish(TimelinesHistory *h)
{
	for (size_t i = 0; i < h->count; i++)
		free(h->items[i].reason);
	free(h->items);
	timelines_history_init(h);
}

bool
timelines_history_append(TimelinesHistory *h, uint32_t timeline_id, uint64_t switch_point, const char *reason)
{
	TimelineHistoryEntry *items;
	char	   *r;

	if (!dup_text(&r, reason))
		return false;
	items = realloc(h->items, (h->count + 1) * sizeof(*items));
	if (items == NULL)
	{
		free(r);
		return false;
	}
	items[h->count].timeline_id = timeline_id;
	items[h->count].switch_point = switch_point;
	items[h->count].reason = r;
	h->items = items;
	h->count++;
	return true;
}

bool
timelines_history_copy(TimelinesHistory *dst, const TimelinesHistory *src)
{
	timelines_history_init(dst);
	for (size_t i = 0; i < src->count; i++)
	{
		if (!timelines_history_append(dst, src->items[i].timeline_id, src->items[i].switch_point,
									  src->items[i].reason))
		{
			timelines_history_finish(dst);
			return false;
		}
	}
	return true;
}

/* ---- Keeper ---- */

void
keeper_init(Keeper *k)
{
	memset(k, 0, sizeof(*k));
	k->status.can_be_master = true;
	k->status.can_be_synchronous_replica = true;
}

void
keeper_finish(Keeper *k)
{
	keeper_init(k);
}

/* ---- Db ---- */

void
db_spec_init(DbSpec *s)
{
	memset(s, 0, sizeof(*s));
	string_list_init(&s->additional_replication_slots);
	pg_parameters_init(&s->pg_parameters);
	string_list_init(&s->followers);
	string_list_init(&s->synchronous_standbys);
	string_list_init(&s->external_synchronous_standbys);
}

void
db_spec_finish(DbSpec *s)
{
	string_list_finish(&s->additional_replication_slots);
	new_config_free(s->new_config);
	pitr_config_free(s->pitr_config);
	pg_parameters_finish(&s->pg_parameters);
	string_list_free(s->pg_hba);
	follow_config_free(s->follow_config);
	string_list_finish(&s->followers);
	string_list_finish(&s->synchronous_standbys);
	string_list_finish(&s->external_synchronous_standbys);
	db_spec_init(s);
}

bool
db_spec_copy(DbSpec *dst, const DbSpec *src)
{
	*dst = *src;
	string_list_init(&dst->additional_replication_slots);
	dst->new_config = NULL;
	dst->pitr_config = NULL;
	pg_parameters_init(&dst->pg_parameters);
	dst->pg_hba = NULL;
	dst->follow_config = NULL;
	string_list_init(&dst->followers);
	string_list_init(&dst->synchronous_standbys);
	string_list_init(&dst->external_synchronous_standbys);

	if (!string_list_copy(&dst->additional_replication_slots, &src->additional_replication_slots) ||
		(src->new_config != NULL && (dst->new_config = new_config_dup(src->new_config)) == NULL) ||
		(src->pitr_config != NULL && (dst->pitr_config = pitr_config_dup(src->pitr_config)) == NULL) ||
		!pg_parameters_copy(&dst->pg_parameters, &src->pg_parameters) ||
		(src->pg_hba != NULL && (dst->pg_hba = string_list_dup(src->pg_hba)) == NULL) ||
		(src->follow_config != NULL && (dst->follow_config = follow_config_dup(src->follow_config)) == NULL) ||
		!string_list_copy(&dst->followers, &src->followers) ||
		!string_list_copy(&dst->synchronous_standbys, &src->synchronous_standbys) ||
		!string_list_copy(&dst->external_synchronous_standbys, &src->external_synchronous_standbys))
	{
		db_spec_finish(dst);
		return false;
	}
	return true;
}

void
db_status_init(DbStatus *s)
{
	memset(s, 0, sizeof(*s));
	timelines_history_init(&s->timelines_history);
	string_list_init(&s->synchronous_standbys);
	pg_parameters_init(&s->pg_parameters);
}

void
db_status_finish(DbStatus *s)
{
	timelines_history_finish(&s->timelines_history);
	string_list_finish(&s->synchronous_standbys);
	pg_parameters_finish(&s->pg_parameters);
	db_status_init(s);
}

bool
db_status_copy(DbStatus *dst, const DbStatus *src)
{
	*dst = *src;
	timelines_history_init(&dst->timelines_history);
	string_list_init(&dst->synchronous_standbys);
	pg_parameters_init(&dst->pg_parameters);
	if (!timelines_history_copy(&dst->timelines_history, &src->timelines_history) ||
		!string_list_copy(&dst->synchronous_standbys, &src->synchronous_standbys) ||
		!pg_parameters_copy(&dst->pg_parameters, &src->pg_parameters))
	{
		db_status_finish(dst);
		return false;
	}
	return true;
}

void
db_init(Db *db)
{
	memset(db->uid, 0, sizeof(db->uid));
	db->generation = 0;
	db->change_time_ms = 0;
	db_spec_init(&db->spec);
	db_status_init(&db->status);
}

void
db_finish(Db *db)
{
	db_spec_finish(&db->spec);
	db_status_finish(&db->status);
	db_init(db);
}

static Db *
db_dup(const Db *src)
{
	Db		   *db = malloc(sizeof(*db));

	if (db == NULL)
		return NULL;
	db_init(db);
	memcpy(db->uid, src->uid, sizeof(db->uid));
	db->generation = src->generation;
	db->change_time_ms = src->change_time_ms;
	if (!db_spec_copy(&db->spec, &src->spec) || !db_status_copy(&db->status, &src->status))
	{
		db_finish(db);
		free(db);
		return NULL;
	}
	return db;
}

/* ---- ClusterData ---- */

static void
proxy_init(Proxy *p)
{
	p->generation = 0;
	p->change_time_ms = 0;
	memset(p->spec.master_db_uid, 0, sizeof(p->spec.master_db_uid));
	string_list_init(&p->spec.ro_db_uids);
	string_list_init(&p->spec.enabled_proxies);
}

static void
proxy_finish(Proxy *p)
{
	string_list_finish(&p->spec.ro_db_uids);
	string_list_finish(&p->spec.enabled_proxies);
	proxy_init(p);
}

static void
cluster_init(Cluster *c)
{
	memset(c->uid, 0, sizeof(c->uid));
	c->generation = 0;
	c->change_time_ms = 0;
	c->spec_sparse = NULL;
	cluster_spec_defaults(&c->spec);
	memset(&c->status, 0, sizeof(c->status));
}

static void
cluster_finish(Cluster *c)
{
	maintenance_free(c->status.maintenance);
	switchover_free(c->status.switchover);
	json_decref(c->spec_sparse);
	cluster_spec_finish(&c->spec);
	cluster_init(c);
}

void
cluster_data_init(ClusterData *cd)
{
	cd->format_version = CLUSTER_DATA_FORMAT_VERSION;
	cd->change_time_ms = 0;
	cluster_init(&cd->cluster);
	cd->keepers = NULL;
	cd->keeper_count = 0;
	cd->dbs = NULL;
	cd->db_count = 0;
	proxy_init(&cd->proxy);
}

void
cluster_data_finish(ClusterData *cd)
{
	cluster_finish(&cd->cluster);
	for (size_t i = 0; i < cd->keeper_count; i++)
		free(cd->keepers[i]);
	free(cd->keepers);
	for (size_t i = 0; i < cd->db_count; i++)
	{
		db_finish(cd->dbs[i]);
		free(cd->dbs[i]);
	}
	free(cd->dbs);
	proxy_finish(&cd->proxy);
	cluster_data_init(cd);
}

bool
cluster_data_copy(ClusterData *dst, const ClusterData *src)
{
	cluster_data_init(dst);
	dst->format_version = src->format_version;
	dst->change_time_ms = src->change_time_ms;

	memcpy(dst->cluster.uid, src->cluster.uid, sizeof(dst->cluster.uid));
	dst->cluster.generation = src->cluster.generation;
	dst->cluster.change_time_ms = src->cluster.change_time_ms;
	dst->cluster.status = src->cluster.status;
	dst->cluster.status.maintenance = NULL;
	dst->cluster.status.switchover = NULL;
	if ((src->cluster.status.maintenance != NULL &&
		 (dst->cluster.status.maintenance = maintenance_dup(src->cluster.status.maintenance)) == NULL) ||
		(src->cluster.status.switchover != NULL &&
		 (dst->cluster.status.switchover = switchover_dup(src->cluster.status.switchover)) == NULL))
		goto oom;
	if (src->cluster.spec_sparse != NULL &&
		(dst->cluster.spec_sparse = json_deep_copy(src->cluster.spec_sparse)) == NULL)
		goto oom;
	cluster_spec_finish(&dst->cluster.spec);
	if (!cluster_spec_copy(&dst->cluster.spec, &src->cluster.spec))
		goto oom;

	if (src->keeper_count > 0)
	{
		dst->keepers = calloc(src->keeper_count, sizeof(dst->keepers[0]));
		if (dst->keepers == NULL)
			goto oom;
		for (size_t i = 0; i < src->keeper_count; i++)
		{
			if ((dst->keepers[i] = malloc(sizeof(Keeper))) == NULL)
				goto oom;
			*dst->keepers[i] = *src->keepers[i];
			dst->keeper_count++;
		}
	}
	if (src->db_count > 0)
	{
		dst->dbs = calloc(src->db_count, sizeof(dst->dbs[0]));
		if (dst->dbs == NULL)
			goto oom;
		for (size_t i = 0; i < src->db_count; i++)
		{
			if ((dst->dbs[i] = db_dup(src->dbs[i])) == NULL)
				goto oom;
			dst->db_count++;
		}
	}

	dst->proxy.generation = src->proxy.generation;
	dst->proxy.change_time_ms = src->proxy.change_time_ms;
	memcpy(dst->proxy.spec.master_db_uid, src->proxy.spec.master_db_uid, sizeof(dst->proxy.spec.master_db_uid));
	if (!string_list_copy(&dst->proxy.spec.ro_db_uids, &src->proxy.spec.ro_db_uids) ||
		!string_list_copy(&dst->proxy.spec.enabled_proxies, &src->proxy.spec.enabled_proxies))
		goto oom;
	return true;

oom:
	cluster_data_finish(dst);
	return false;
}

/*
 * Sorted arrays of pointers to objects with a uid member: search (the index of uid, or where it would be
 * inserted with *found false), insert at an index, delete an index. Generated per type so no pointer is
 * accessed through another pointer type.
 */
#define UID_ARRAY_FUNCTIONS(prefix, Type) \
static size_t \
prefix##_search(Type *const *array, size_t count, const char *uid, bool *found) \
{ \
	size_t		lo = 0; \
	size_t		hi = count; \
 \
	*found = false; \
	while (lo < hi) \
	{ \
		size_t		mid = lo + (hi - lo) / 2; \
		int			c = strcmp(array[mid]->uid, uid); \
 \
		if (c == 0) \
		{ \
			*found = true; \
			return mid; \
		} \
		if (c < 0) \
			lo = mid + 1; \
		else \
			hi = mid; \
	} \
	return lo; \
} \
 \
static bool \
prefix##_insert(Type ***array, size_t *count, size_t at, Type *obj) \
{ \
	Type	  **a = realloc(*array, (*count + 1) * sizeof(*a)); \
 \
	if (a == NULL) \
		return false; \
	memmove(&a[at + 1], &a[at], (*count - at) * sizeof(*a)); \
	a[at] = obj; \
	*array = a; \
	(*count)++; \
	return true; \
} \
 \
static void \
prefix##_delete(Type ***array, size_t *count, size_t at) \
{ \
	memmove(&(*array)[at], &(*array)[at + 1], (*count - at - 1) * sizeof(**array)); \
	(*count)--; \
	if (*count == 0) \
	{ \
		free(*array); \
		*array = NULL; \
	} \
}

UID_ARRAY_FUNCTIONS(keeper_array, Keeper)
UID_ARRAY_FUNCTIONS(db_array, Db)

Keeper *
cluster_data_find_keeper(const ClusterData *cd, const char *uid)
{
	bool		found;
	size_t		at = keeper_array_search(cd->keepers, cd->keeper_count, uid, &found);

	return found ? cd->keepers[at] : NULL;
}

Db *
cluster_data_find_db(const ClusterData *cd, const char *uid)
{
	bool		found;
	size_t		at = db_array_search(cd->dbs, cd->db_count, uid, &found);

	return found ? cd->dbs[at] : NULL;
}

Db *
cluster_data_find_db_by_keeper(const ClusterData *cd, const char *keeper_uid)
{
	for (size_t i = 0; i < cd->db_count; i++)
		if (strcmp(cd->dbs[i]->spec.keeper_uid, keeper_uid) == 0)
			return cd->dbs[i];
	return NULL;
}

Db *
cluster_data_master_db(const ClusterData *cd)
{
	if (cd->cluster.status.master[0] == '\0')
		return NULL;
	return cluster_data_find_db(cd, cd->cluster.status.master);
}

Keeper *
cluster_data_add_keeper(ClusterData *cd, const char *uid)
{
	bool		found;
	size_t		at;
	Keeper	   *k;

	if (!uid_is_valid(uid))
		return NULL;
	at = keeper_array_search(cd->keepers, cd->keeper_count, uid, &found);
	if (found || (k = malloc(sizeof(*k))) == NULL)
		return NULL;
	keeper_init(k);
	snprintf(k->uid, sizeof(k->uid), "%s", uid);
	if (!keeper_array_insert(&cd->keepers, &cd->keeper_count, at, k))
	{
		free(k);
		return NULL;
	}
	return k;
}

Db *
cluster_data_add_db(ClusterData *cd, const char *uid)
{
	bool		found;
	size_t		at;
	Db		   *db;

	if (!uid_is_valid(uid))
		return NULL;
	at = db_array_search(cd->dbs, cd->db_count, uid, &found);
	if (found || (db = malloc(sizeof(*db))) == NULL)
		return NULL;
	db_init(db);
	snprintf(db->uid, sizeof(db->uid), "%s", uid);
	if (!db_array_insert(&cd->dbs, &cd->db_count, at, db))
	{
		free(db);
		return NULL;
	}
	return db;
}

bool
cluster_data_remove_keeper(ClusterData *cd, const char *uid)
{
	bool		found;
	size_t		at = keeper_array_search(cd->keepers, cd->keeper_count, uid, &found);

	if (!found)
		return false;
	free(cd->keepers[at]);
	keeper_array_delete(&cd->keepers, &cd->keeper_count, at);
	return true;
}

bool
cluster_data_remove_db(ClusterData *cd, const char *uid)
{
	bool		found;
	size_t		at = db_array_search(cd->dbs, cd->db_count, uid, &found);

	if (!found)
		return false;
	db_finish(cd->dbs[at]);
	free(cd->dbs[at]);
	db_array_delete(&cd->dbs, &cd->db_count, at);
	return true;
}

/* ---- reports ---- */

PostgresState *
postgres_state_new(void)
{
	PostgresState *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	timelines_history_init(&s->timelines_history);
	pg_parameters_init(&s->pg_parameters);
	string_list_init(&s->synchronous_standbys);
	return s;
}

void
postgres_state_free(PostgresState *s)
{
	if (s == NULL)
		return;
	timelines_history_finish(&s->timelines_history);
	pg_parameters_finish(&s->pg_parameters);
	string_list_finish(&s->synchronous_standbys);
	free(s);
}

PostgresState *
postgres_state_dup(const PostgresState *src)
{
	PostgresState *s;

	if (src == NULL || (s = malloc(sizeof(*s))) == NULL)
		return NULL;
	*s = *src;
	timelines_history_init(&s->timelines_history);
	pg_parameters_init(&s->pg_parameters);
	string_list_init(&s->synchronous_standbys);
	if (!timelines_history_copy(&s->timelines_history, &src->timelines_history) ||
		!pg_parameters_copy(&s->pg_parameters, &src->pg_parameters) ||
		!string_list_copy(&s->synchronous_standbys, &src->synchronous_standbys))
	{
		postgres_state_free(s);
		return NULL;
	}
	return s;
}

void
keeper_info_init(KeeperInfo *ki)
{
	memset(ki, 0, sizeof(*ki));
	ki->postgres_state = NULL;
	ki->can_be_master = true;
	ki->can_be_synchronous_replica = true;
}

void
keeper_info_finish(KeeperInfo *ki)
{
	postgres_state_free(ki->postgres_state);
	keeper_info_init(ki);
}

bool
keeper_info_copy(KeeperInfo *dst, const KeeperInfo *src)
{
	*dst = *src;
	dst->postgres_state = NULL;
	if (src->postgres_state != NULL && (dst->postgres_state = postgres_state_dup(src->postgres_state)) == NULL)
	{
		keeper_info_init(dst);
		return false;
	}
	return true;
}
