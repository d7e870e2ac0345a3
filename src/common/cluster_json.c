/*
 * src/common/cluster_json.c
 *    JSON codec of the cluster data model, driven by field tables: each object type is a list of (JSON name,
 *    kind, offset) that both the decoder and the encoder walk, so the two cannot disagree on a name or a form,
 *    and strictness (unknown fields, types, ranges) is implemented once. The tables' macros check each member's
 *    C type at compile time.
 */
#include "cluster_json.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "json_merge_patch.h"
#include "timestamp.h"

typedef enum FieldKind
{
	FIELD_UID,					/* char[UID_SIZE]: "" or a valid uid */
	FIELD_STRING,				/* char[size]: any text shorter than size */
	FIELD_TEXT,					/* char *: NULL = absent */
	FIELD_BOOL,
	FIELD_INT,					/* int in [min, max] */
	FIELD_INT64,				/* int64_t in [min, max] */
	FIELD_UINT32,
	FIELD_LSN,					/* uint64_t as "X/X" */
	FIELD_DURATION,				/* int64_t milliseconds as "1m30s" */
	FIELD_TIME,					/* int64_t milliseconds since the epoch as RFC 3339 */
	FIELD_ENUM,					/* an enum (int-sized) named by enum_type */
	FIELD_UID_LIST,				/* StringList of valid uids */
	FIELD_STRING_LIST,			/* StringList */
	FIELD_OPT_STRING_LIST,		/* StringList *: NULL = absent */
	FIELD_PARAMS,				/* PgParameters as an object of strings */
	FIELD_TIMELINES,			/* TimelinesHistory as an array of objects */
	FIELD_OBJECT,				/* an embedded struct described by object */
	FIELD_OPT_OBJECT,			/* a pointer to a struct described by object: NULL = absent */
	FIELD_SPEC,					/* Cluster's spec_sparse + spec (the Cluster table only) */
} FieldKind;

typedef struct EnumType
{
	const char *(*name) (int value);
	int			first;			/* the values accepted, first..last; others are omitted on encode */
	int			last;
} EnumType;

typedef struct Field Field;

typedef struct ObjectType
{
	const Field *fields;
	size_t		nfields;
	void	   *(*alloc) (void);	/* FIELD_OPT_OBJECT: a new zeroed object */
	void		(*release) (void *obj);
} ObjectType;

struct Field
{
	const char *name;
	FieldKind	kind;
	size_t		offset;
	size_t		size;			/* FIELD_STRING: capacity with the NUL */
	int64_t		min;			/* FIELD_INT, FIELD_INT64 */
	int64_t		max;
	bool		required;		/* must be present, and non-empty for strings */
	const EnumType *enum_type;
	const ObjectType *object;
};

/* ---- field table macros: each checks that the member has the C type the kind expects ---- */

#define MEMBER_IS(T, m, type) (0 * sizeof(char[_Generic(((T *) 0)->m, type: 1, default: -1)]))
#define FIELD_AT(T, m, type) .offset = offsetof(T, m) + MEMBER_IS(T, m, type)

#define F_UID(json, T, m) \
	{ .name = json, .kind = FIELD_UID, FIELD_AT(T, m, char *), .size = sizeof(((T *) 0)->m) }
#define F_UID_REQUIRED(json, T, m) \
	{ .name = json, .kind = FIELD_UID, FIELD_AT(T, m, char *), .size = sizeof(((T *) 0)->m), .required = true }
#define F_STRING(json, T, m) \
	{ .name = json, .kind = FIELD_STRING, FIELD_AT(T, m, char *), .size = sizeof(((T *) 0)->m) }
#define F_STRING_REQUIRED(json, T, m) \
	{ .name = json, .kind = FIELD_STRING, FIELD_AT(T, m, char *), .size = sizeof(((T *) 0)->m), .required = true }
#define F_TEXT(json, T, m) { .name = json, .kind = FIELD_TEXT, FIELD_AT(T, m, char *) }
#define F_BOOL(json, T, m) { .name = json, .kind = FIELD_BOOL, FIELD_AT(T, m, bool) }
#define F_INT(json, T, m, lo, hi) { .name = json, .kind = FIELD_INT, FIELD_AT(T, m, int), .min = lo, .max = hi }
#define F_INT64(json, T, m, lo, hi) \
	{ .name = json, .kind = FIELD_INT64, FIELD_AT(T, m, int64_t), .min = lo, .max = hi }
#define F_UINT32(json, T, m) { .name = json, .kind = FIELD_UINT32, FIELD_AT(T, m, uint32_t) }
#define F_LSN(json, T, m) { .name = json, .kind = FIELD_LSN, FIELD_AT(T, m, uint64_t) }
#define F_DURATION(json, T, m) { .name = json, .kind = FIELD_DURATION, FIELD_AT(T, m, int64_t) }
#define F_TIME(json, T, m) { .name = json, .kind = FIELD_TIME, FIELD_AT(T, m, int64_t) }
#define F_ENUM(json, T, m, Etype, etype) \
	{ .name = json, .kind = FIELD_ENUM, FIELD_AT(T, m, Etype), .enum_type = &etype }
#define F_UID_LIST(json, T, m) { .name = json, .kind = FIELD_UID_LIST, FIELD_AT(T, m, StringList) }
#define F_STRING_LIST(json, T, m) { .name = json, .kind = FIELD_STRING_LIST, FIELD_AT(T, m, StringList) }
#define F_OPT_STRING_LIST(json, T, m) \
	{ .name = json, .kind = FIELD_OPT_STRING_LIST, FIELD_AT(T, m, StringList *) }
#define F_PARAMS(json, T, m) { .name = json, .kind = FIELD_PARAMS, FIELD_AT(T, m, PgParameters) }
#define F_TIMELINES(json, T, m) { .name = json, .kind = FIELD_TIMELINES, FIELD_AT(T, m, TimelinesHistory) }
#define F_OBJECT(json, T, m, Mtype, otype) \
	{ .name = json, .kind = FIELD_OBJECT, FIELD_AT(T, m, Mtype), .object = &otype }
#define F_OPT_OBJECT(json, T, m, Mtype, otype) \
	{ .name = json, .kind = FIELD_OPT_OBJECT, FIELD_AT(T, m, Mtype *), .object = &otype }

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
#define OBJECT_TYPE(fields) { fields, NFIELDS(fields), NULL, NULL }
#define OPT_OBJECT_TYPE(fields, prefix) { fields, NFIELDS(fields), prefix##_alloc, prefix##_release }

/* Enums are stored as int-sized values; the codec moves them with memcpy through an int. */
_Static_assert(sizeof(ClusterPhase) == sizeof(int), "enum size");
_Static_assert(sizeof(ClusterRole) == sizeof(int), "enum size");
_Static_assert(sizeof(InitMode) == sizeof(int), "enum size");
_Static_assert(sizeof(DbRole) == sizeof(int), "enum size");
_Static_assert(sizeof(FollowType) == sizeof(int), "enum size");
_Static_assert(sizeof(SuReplAccessMode) == sizeof(int), "enum size");
_Static_assert(sizeof(SwitchoverPhase) == sizeof(int), "enum size");

static const char *
enum_name_cluster_phase(int v)
{
	return cluster_phase_to_string((ClusterPhase) v);
}

static const char *
enum_name_cluster_role(int v)
{
	return cluster_role_to_string((ClusterRole) v);
}

static const char *
enum_name_init_mode(int v)
{
	return init_mode_to_string((InitMode) v);
}

static const char *
enum_name_db_role(int v)
{
	return db_role_to_string((DbRole) v);
}

static const char *
enum_name_follow_type(int v)
{
	return follow_type_to_string((FollowType) v);
}

static const char *
enum_name_su_repl_access_mode(int v)
{
	return su_repl_access_mode_to_string((SuReplAccessMode) v);
}

static const char *
enum_name_switchover_phase(int v)
{
	return switchover_phase_to_string((SwitchoverPhase) v);
}

static const EnumType cluster_phase_type = {enum_name_cluster_phase, CLUSTER_PHASE_INITIALIZING, CLUSTER_PHASE_NORMAL};
static const EnumType cluster_role_type = {enum_name_cluster_role, CLUSTER_ROLE_MASTER, CLUSTER_ROLE_STANDBY};
static const EnumType spec_init_mode_type = {enum_name_init_mode, INIT_MODE_NEW, INIT_MODE_PITR};
static const EnumType db_init_mode_type = {enum_name_init_mode, INIT_MODE_NONE, INIT_MODE_RESYNC};
static const EnumType db_role_type = {enum_name_db_role, DB_ROLE_MASTER, DB_ROLE_STANDBY};
static const EnumType follow_type_type = {enum_name_follow_type, FOLLOW_TYPE_INTERNAL, FOLLOW_TYPE_EXTERNAL};
static const EnumType switchover_phase_type = {enum_name_switchover_phase, SWITCHOVER_PHASE_REQUESTED,
SWITCHOVER_PHASE_CATCHING_UP};
static const EnumType su_repl_access_mode_type = {enum_name_su_repl_access_mode, SU_REPL_ACCESS_ALL,
SU_REPL_ACCESS_STRICT};

/* alloc/release adapters of the optional sub-objects */
#define OPT_OBJECT_ADAPTERS(prefix, Type) \
static void * \
prefix##_alloc(void) \
{ \
	return prefix##_new(); \
} \
static void \
prefix##_release(void *obj) \
{ \
	prefix##_free((Type *) obj); \
}

OPT_OBJECT_ADAPTERS(new_config, NewConfig)
OPT_OBJECT_ADAPTERS(archive_recovery_settings, ArchiveRecoverySettings)
OPT_OBJECT_ADAPTERS(recovery_target_settings, RecoveryTargetSettings)
OPT_OBJECT_ADAPTERS(standby_settings, StandbySettings)
OPT_OBJECT_ADAPTERS(pitr_config, PitrConfig)
OPT_OBJECT_ADAPTERS(existing_config, ExistingConfig)
OPT_OBJECT_ADAPTERS(standby_config, StandbyConfig)
OPT_OBJECT_ADAPTERS(follow_config, FollowConfig)
OPT_OBJECT_ADAPTERS(maintenance, Maintenance)
OPT_OBJECT_ADAPTERS(switchover, Switchover)
OPT_OBJECT_ADAPTERS(postgres_state, PostgresState)

/* ---- the tables ---- */

static const Field new_config_fields[] = {
	F_TEXT("locale", NewConfig, locale),
	F_TEXT("encoding", NewConfig, encoding),
	F_BOOL("dataChecksums", NewConfig, data_checksums),
};
static const ObjectType new_config_type = OPT_OBJECT_TYPE(new_config_fields, new_config);

static const Field archive_recovery_settings_fields[] = {
	F_TEXT("restoreCommand", ArchiveRecoverySettings, restore_command),
};
static const ObjectType archive_recovery_settings_type =
OPT_OBJECT_TYPE(archive_recovery_settings_fields, archive_recovery_settings);

static const Field recovery_target_settings_fields[] = {
	F_TEXT("recoveryTarget", RecoveryTargetSettings, recovery_target),
	F_TEXT("recoveryTargetLsn", RecoveryTargetSettings, recovery_target_lsn),
	F_TEXT("recoveryTargetName", RecoveryTargetSettings, recovery_target_name),
	F_TEXT("recoveryTargetTime", RecoveryTargetSettings, recovery_target_time),
	F_TEXT("recoveryTargetXid", RecoveryTargetSettings, recovery_target_xid),
	F_TEXT("recoveryTargetTimeline", RecoveryTargetSettings, recovery_target_timeline),
};
static const ObjectType recovery_target_settings_type =
OPT_OBJECT_TYPE(recovery_target_settings_fields, recovery_target_settings);

static const Field standby_settings_fields[] = {
	F_TEXT("primaryConninfo", StandbySettings, primary_conninfo),
	F_TEXT("primarySlotName", StandbySettings, primary_slot_name),
	F_TEXT("recoveryMinApplyDelay", StandbySettings, recovery_min_apply_delay),
};
static const ObjectType standby_settings_type = OPT_OBJECT_TYPE(standby_settings_fields, standby_settings);

static const Field pitr_config_fields[] = {
	F_TEXT("dataRestoreCommand", PitrConfig, data_restore_command),
	F_OPT_OBJECT("archiveRecoverySettings", PitrConfig, archive_recovery_settings, ArchiveRecoverySettings,
				 archive_recovery_settings_type),
	F_OPT_OBJECT("recoveryTargetSettings", PitrConfig, recovery_target_settings, RecoveryTargetSettings,
				 recovery_target_settings_type),
};
static const ObjectType pitr_config_type = OPT_OBJECT_TYPE(pitr_config_fields, pitr_config);

static const Field existing_config_fields[] = {
	F_UID("keeperUID", ExistingConfig, keeper_uid),
};
static const ObjectType existing_config_type = OPT_OBJECT_TYPE(existing_config_fields, existing_config);

static const Field standby_config_fields[] = {
	F_OPT_OBJECT("standbySettings", StandbyConfig, standby_settings, StandbySettings, standby_settings_type),
	F_OPT_OBJECT("archiveRecoverySettings", StandbyConfig, archive_recovery_settings, ArchiveRecoverySettings,
				 archive_recovery_settings_type),
};
static const ObjectType standby_config_type = OPT_OBJECT_TYPE(standby_config_fields, standby_config);

/* Ranges are left wide here: cluster_spec_validate gives the precise rule with its message. */
static const Field cluster_spec_fields[] = {
	F_DURATION("sleepInterval", ClusterSpec, sleep_interval_ms),
	F_DURATION("requestTimeout", ClusterSpec, request_timeout_ms),
	F_DURATION("convergenceTimeout", ClusterSpec, convergence_timeout_ms),
	F_DURATION("initTimeout", ClusterSpec, init_timeout_ms),
	F_DURATION("syncTimeout", ClusterSpec, sync_timeout_ms),
	F_DURATION("dbWaitReadyTimeout", ClusterSpec, db_wait_ready_timeout_ms),
	F_DURATION("failInterval", ClusterSpec, fail_interval_ms),
	F_DURATION("deadKeeperRemovalInterval", ClusterSpec, dead_keeper_removal_interval_ms),
	F_DURATION("proxyCheckInterval", ClusterSpec, proxy_check_interval_ms),
	F_DURATION("proxyTimeout", ClusterSpec, proxy_timeout_ms),
	F_INT("maxStandbys", ClusterSpec, max_standbys, INT_MIN, INT_MAX),
	F_INT("maxStandbysPerSender", ClusterSpec, max_standbys_per_sender, INT_MIN, INT_MAX),
	F_INT64("maxStandbyLag", ClusterSpec, max_standby_lag, INT64_MIN, INT64_MAX),
	F_INT64("maxReadOnlyLag", ClusterSpec, max_read_only_lag, INT64_MIN, INT64_MAX),
	F_BOOL("synchronousReplication", ClusterSpec, synchronous_replication),
	F_INT("minSynchronousStandbys", ClusterSpec, min_synchronous_standbys, INT_MIN, INT_MAX),
	F_INT("maxSynchronousStandbys", ClusterSpec, max_synchronous_standbys, INT_MIN, INT_MAX),
	F_INT("additionalWalSenders", ClusterSpec, additional_wal_senders, INT_MIN, INT_MAX),
	F_STRING_LIST("additionalMasterReplicationSlots", ClusterSpec, additional_master_replication_slots),
	F_BOOL("usePgrewind", ClusterSpec, use_pg_rewind),
	F_ENUM("initMode", ClusterSpec, init_mode, InitMode, spec_init_mode_type),
	F_BOOL("mergePgParameters", ClusterSpec, merge_pg_parameters),
	F_ENUM("role", ClusterSpec, role, ClusterRole, cluster_role_type),
	F_OPT_OBJECT("newConfig", ClusterSpec, new_config, NewConfig, new_config_type),
	F_OPT_OBJECT("pitrConfig", ClusterSpec, pitr_config, PitrConfig, pitr_config_type),
	F_OPT_OBJECT("existingConfig", ClusterSpec, existing_config, ExistingConfig, existing_config_type),
	F_OPT_OBJECT("standbyConfig", ClusterSpec, standby_config, StandbyConfig, standby_config_type),
	F_ENUM("defaultSUReplAccessMode", ClusterSpec, default_su_repl_access_mode, SuReplAccessMode,
		   su_repl_access_mode_type),
	F_PARAMS("pgParameters", ClusterSpec, pg_parameters),
	F_OPT_STRING_LIST("pgHBA", ClusterSpec, pg_hba),
	F_BOOL("automaticPgRestart", ClusterSpec, automatic_pg_restart),
	F_BOOL("failsafeMode", ClusterSpec, failsafe_mode),
};
static const ObjectType cluster_spec_type = OBJECT_TYPE(cluster_spec_fields);

static const Field maintenance_fields[] = {
	F_TIME("since", Maintenance, since_ms),
	F_STRING("by", Maintenance, by),
	F_STRING("reason", Maintenance, reason),
};
static const ObjectType maintenance_type = OPT_OBJECT_TYPE(maintenance_fields, maintenance);

static const Field switchover_fields[] = {
	F_UID("eventId", Switchover, event_id),
	F_ENUM("phase", Switchover, phase, SwitchoverPhase, switchover_phase_type),
	F_UID_REQUIRED("fromDbUid", Switchover, from_db_uid),
	F_UID("targetKeeperUid", Switchover, target_keeper_uid),
	F_UID("targetDbUid", Switchover, target_db_uid),
	F_TIME("requestTime", Switchover, requested_ms),
	F_DURATION("timeout", Switchover, timeout_ms),
	F_LSN("masterLsn", Switchover, master_lsn),
	F_STRING("by", Switchover, by),
};
static const ObjectType switchover_type = OPT_OBJECT_TYPE(switchover_fields, switchover);

/* maintenance and switchover are optional: documents written before they existed decode unchanged. */
static const Field cluster_status_fields[] = {
	F_INT64("currentGeneration", ClusterStatus, current_generation, 0, INT64_MAX),
	F_ENUM("phase", ClusterStatus, phase, ClusterPhase, cluster_phase_type),
	F_UID("master", ClusterStatus, master),
	F_OPT_OBJECT("maintenance", ClusterStatus, maintenance, Maintenance, maintenance_type),
	F_OPT_OBJECT("switchover", ClusterStatus, switchover, Switchover, switchover_type),
};
static const ObjectType cluster_status_type = OBJECT_TYPE(cluster_status_fields);

static const Field cluster_fields[] = {
	F_UID_REQUIRED("uid", Cluster, uid),
	F_INT64("generation", Cluster, generation, 0, INT64_MAX),
	F_TIME("changeTime", Cluster, change_time_ms),
	{.name = "spec", .kind = FIELD_SPEC, .required = true},
	F_OBJECT("status", Cluster, status, ClusterStatus, cluster_status_type),
};
static const ObjectType cluster_type = OBJECT_TYPE(cluster_fields);

static const Field pg_binary_version_fields[] = {
	F_INT("maj", PgBinaryVersion, major, 0, INT_MAX),
	F_INT("min", PgBinaryVersion, minor, 0, INT_MAX),
};
static const ObjectType pg_binary_version_type = OBJECT_TYPE(pg_binary_version_fields);

static const Field keeper_status_fields[] = {
	F_BOOL("healthy", KeeperStatus, healthy),
	F_TIME("lastHealthyTime", KeeperStatus, last_healthy_time_ms),
	F_STRING("bootUUID", KeeperStatus, boot_uuid),
	F_BOOL("forceFail", KeeperStatus, force_fail),
	F_BOOL("canBeMaster", KeeperStatus, can_be_master),
	F_BOOL("canBeSynchronousReplica", KeeperStatus, can_be_synchronous_replica),
	F_OBJECT("postgresBinaryVersion", KeeperStatus, postgres_binary_version, PgBinaryVersion,
			 pg_binary_version_type),
	F_STRING("httpAddress", KeeperStatus, http_address),
};
static const ObjectType keeper_status_type = OBJECT_TYPE(keeper_status_fields);

/* A keeper's and a DB's uid is its key in the keepers and dbs objects, so it is not repeated inside. */
static const Field keeper_fields[] = {
	F_INT64("generation", Keeper, generation, 0, INT64_MAX),
	F_TIME("changeTime", Keeper, change_time_ms),
	F_OBJECT("status", Keeper, status, KeeperStatus, keeper_status_type),
};
static const ObjectType keeper_type = OBJECT_TYPE(keeper_fields);

static const Field follow_config_fields[] = {
	F_ENUM("type", FollowConfig, type, FollowType, follow_type_type),
	F_UID("dbUid", FollowConfig, db_uid),
	F_OPT_OBJECT("standbySettings", FollowConfig, standby_settings, StandbySettings, standby_settings_type),
	F_OPT_OBJECT("archiveRecoverySettings", FollowConfig, archive_recovery_settings, ArchiveRecoverySettings,
				 archive_recovery_settings_type),
};
static const ObjectType follow_config_type = OPT_OBJECT_TYPE(follow_config_fields, follow_config);

static const Field db_spec_fields[] = {
	F_UID("keeperUID", DbSpec, keeper_uid),
	F_DURATION("requestTimeout", DbSpec, request_timeout_ms),
	F_INT("maxStandbys", DbSpec, max_standbys, 0, INT_MAX),
	F_BOOL("synchronousReplication", DbSpec, synchronous_replication),
	F_BOOL("usePgrewind", DbSpec, use_pg_rewind),
	F_INT("additionalWalSenders", DbSpec, additional_wal_senders, 0, INT_MAX),
	F_STRING_LIST("additionalReplicationSlots", DbSpec, additional_replication_slots),
	F_ENUM("initMode", DbSpec, init_mode, InitMode, db_init_mode_type),
	F_OPT_OBJECT("newConfig", DbSpec, new_config, NewConfig, new_config_type),
	F_OPT_OBJECT("pitrConfig", DbSpec, pitr_config, PitrConfig, pitr_config_type),
	F_PARAMS("pgParameters", DbSpec, pg_parameters),
	F_OPT_STRING_LIST("pgHBA", DbSpec, pg_hba),
	F_ENUM("role", DbSpec, role, DbRole, db_role_type),
	F_OPT_OBJECT("followConfig", DbSpec, follow_config, FollowConfig, follow_config_type),
	F_UID_LIST("followers", DbSpec, followers),
	F_BOOL("includePreviousConfig", DbSpec, include_previous_config),
	F_UID_LIST("synchronousStandbys", DbSpec, synchronous_standbys),
	F_STRING_LIST("externalSynchronousStandbys", DbSpec, external_synchronous_standbys),
};
static const ObjectType db_spec_type = OBJECT_TYPE(db_spec_fields);

static const Field timeline_fields[] = {
	F_UINT32("timelineID", TimelineHistoryEntry, timeline_id),
	F_LSN("switchPoint", TimelineHistoryEntry, switch_point),
	F_TEXT("reason", TimelineHistoryEntry, reason),
};
static const ObjectType timeline_type = OBJECT_TYPE(timeline_fields);

static const Field db_status_fields[] = {
	F_BOOL("healthy", DbStatus, healthy),
	F_INT64("currentGeneration", DbStatus, current_generation, 0, INT64_MAX),
	F_STRING("listenAddress", DbStatus, listen_address),
	F_INT("port", DbStatus, port, 0, 65535),
	F_STRING("systemID", DbStatus, system_id),
	F_UINT32("timelineID", DbStatus, timeline_id),
	F_LSN("xLogPos", DbStatus, xlog_pos),
	F_TIMELINES("timelinesHistory", DbStatus, timelines_history),
	F_UID_LIST("synchronousStandbys", DbStatus, synchronous_standbys),
	F_STRING("olderWalFile", DbStatus, older_wal_file),
	F_PARAMS("pgParameters", DbStatus, pg_parameters),
};
static const ObjectType db_status_type = OBJECT_TYPE(db_status_fields);

static const Field db_fields[] = {
	F_INT64("generation", Db, generation, 0, INT64_MAX),
	F_TIME("changeTime", Db, change_time_ms),
	F_OBJECT("spec", Db, spec, DbSpec, db_spec_type),
	F_OBJECT("status", Db, status, DbStatus, db_status_type),
};
static const ObjectType db_type = OBJECT_TYPE(db_fields);

static const Field proxy_spec_fields[] = {
	F_UID("masterDbUid", ProxySpec, master_db_uid),
	F_UID_LIST("roDbUids", ProxySpec, ro_db_uids),
	F_UID_LIST("enabledProxies", ProxySpec, enabled_proxies),
};
static const ObjectType proxy_spec_type = OBJECT_TYPE(proxy_spec_fields);

static const Field proxy_fields[] = {
	F_INT64("generation", Proxy, generation, 0, INT64_MAX),
	F_TIME("changeTime", Proxy, change_time_ms),
	F_OBJECT("spec", Proxy, spec, ProxySpec, proxy_spec_type),
};
static const ObjectType proxy_type = OBJECT_TYPE(proxy_fields);

static const Field postgres_state_fields[] = {
	F_UID("uid", PostgresState, uid),
	F_INT64("generation", PostgresState, generation, 0, INT64_MAX),
	F_STRING("listenAddress", PostgresState, listen_address),
	F_INT("port", PostgresState, port, 0, 65535),
	F_BOOL("healthy", PostgresState, healthy),
	F_STRING("systemID", PostgresState, system_id),
	F_UINT32("timelineID", PostgresState, timeline_id),
	F_LSN("xLogPos", PostgresState, xlog_pos),
	F_TIMELINES("timelinesHistory", PostgresState, timelines_history),
	F_PARAMS("pgParameters", PostgresState, pg_parameters),
	F_UID_LIST("synchronousStandbys", PostgresState, synchronous_standbys),
	F_STRING("olderWalFile", PostgresState, older_wal_file),
	F_LSN("stoppedLsn", PostgresState, stopped_lsn),
};
static const ObjectType postgres_state_type = OPT_OBJECT_TYPE(postgres_state_fields, postgres_state);

static const Field keeper_info_fields[] = {
	F_STRING_REQUIRED("infoUID", KeeperInfo, info_uid),
	F_UID_REQUIRED("uid", KeeperInfo, uid),
	F_UID("clusterUID", KeeperInfo, cluster_uid),
	F_STRING("bootUUID", KeeperInfo, boot_uuid),
	F_OBJECT("postgresBinaryVersion", KeeperInfo, postgres_binary_version, PgBinaryVersion,
			 pg_binary_version_type),
	F_OPT_OBJECT("postgresState", KeeperInfo, postgres_state, PostgresState, postgres_state_type),
	F_BOOL("canBeMaster", KeeperInfo, can_be_master),
	F_BOOL("canBeSynchronousReplica", KeeperInfo, can_be_synchronous_replica),
	F_STRING("keeperState", KeeperInfo, keeper_state),
	F_STRING("httpAddress", KeeperInfo, http_address),
	F_STRING("problem", KeeperInfo, problem),
};
static const ObjectType keeper_info_type = OBJECT_TYPE(keeper_info_fields);

static const Field sentinel_info_fields[] = {
	F_STRING_REQUIRED("infoUID", SentinelInfo, info_uid),
	F_UID_REQUIRED("uid", SentinelInfo, uid),
};
static const ObjectType sentinel_info_type = OBJECT_TYPE(sentinel_info_fields);

static const Field proxy_info_fields[] = {
	F_STRING_REQUIRED("infoUID", ProxyInfo, info_uid),
	F_UID_REQUIRED("uid", ProxyInfo, uid),
	F_INT64("generation", ProxyInfo, generation, 0, INT64_MAX),
	F_DURATION("proxyTimeout", ProxyInfo, proxy_timeout_ms),
};
static const ObjectType proxy_info_type = OBJECT_TYPE(proxy_info_fields);

/* ---- member access ---- */

static void *
member(void *obj, const Field *f)
{
	return (char *) obj + f->offset;
}

static const void *
cmember(const void *obj, const Field *f)
{
	return (const char *) obj + f->offset;
}

/* Pointer members are read and written with memcpy, as the codec does not know their pointee type. */
static void *
get_pointer(const void *obj, const Field *f)
{
	void	   *p;

	memcpy(&p, cmember(obj, f), sizeof(p));
	return p;
}

static void
set_pointer(void *obj, const Field *f, void *p)
{
	memcpy(member(obj, f), &p, sizeof(p));
}

static int
get_enum(const void *obj, const Field *f)
{
	int			v;

	memcpy(&v, cmember(obj, f), sizeof(v));
	return v;
}

static void
set_enum(void *obj, const Field *f, int v)
{
	memcpy(member(obj, f), &v, sizeof(v));
}

/* ---- decoding ---- */

typedef struct DecodeCtx
{
	char	   *err;
	size_t		errlen;
	const char *root;			/* named in messages about the document itself */
	bool		null_is_unset;	/* inside a sparse spec */
	char		path[512];
	size_t		pathlen;
} DecodeCtx;

static void
ctx_init(DecodeCtx *ctx, const char *root, char *err, size_t errlen)
{
	ctx->err = err;
	ctx->errlen = errlen;
	ctx->root = root;
	ctx->null_is_unset = false;
	ctx->path[0] = '\0';
	ctx->pathlen = 0;
}

/* Appends ".name" (or "name" at the top) or "[i]" to the path; returns the previous length, for ctx_pop. */
static size_t
ctx_push_key(DecodeCtx *ctx, const char *name)
{
	size_t		saved = ctx->pathlen;
	int			n = snprintf(ctx->path + ctx->pathlen, sizeof(ctx->path) - ctx->pathlen, "%s%s",
							 ctx->pathlen > 0 ? "." : "", name);

	if (n > 0)
		ctx->pathlen += (size_t) n;
	if (ctx->pathlen >= sizeof(ctx->path))
		ctx->pathlen = sizeof(ctx->path) - 1;
	return saved;
}

static size_t
ctx_push_index(DecodeCtx *ctx, size_t i)
{
	size_t		saved = ctx->pathlen;
	int			n = snprintf(ctx->path + ctx->pathlen, sizeof(ctx->path) - ctx->pathlen, "[%zu]", i);

	if (n > 0)
		ctx->pathlen += (size_t) n;
	if (ctx->pathlen >= sizeof(ctx->path))
		ctx->pathlen = sizeof(ctx->path) - 1;
	return saved;
}

static void
ctx_pop(DecodeCtx *ctx, size_t saved)
{
	ctx->pathlen = saved;
	ctx->path[saved] = '\0';
}

static bool
dec_fail(DecodeCtx *ctx, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static bool
dec_fail(DecodeCtx *ctx, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->err != NULL && ctx->errlen > 0)
		snprintf(ctx->err, ctx->errlen, "%s: %s", ctx->pathlen > 0 ? ctx->path : ctx->root, msg);
	return false;
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			return "object";
		case JSON_ARRAY:
			return "array";
		case JSON_STRING:
			return "string";
		case JSON_INTEGER:
			return "integer";
		case JSON_REAL:
			return "real";
		case JSON_TRUE:
		case JSON_FALSE:
			return "boolean";
		case JSON_NULL:
			return "null";
	}
	return "unknown";
}

static const char *
quote(const char *s, char *buf)
{
	return cluster_text_quote(s, buf, CLUSTER_QUOTE_SIZE);
}

/* The string value of v, or NULL after an error "expected <what>, got <type>" (or about a NUL byte). */
static const char *
dec_string(DecodeCtx *ctx, const json_t *v, const char *what)
{
	const char *s;

	if (!json_is_string(v))
	{
		dec_fail(ctx, "expected %s, got %s", what, json_type_name(v));
		return NULL;
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
	{
		dec_fail(ctx, "must not contain a NUL character");
		return NULL;
	}
	return s;
}

static bool
dec_uid(DecodeCtx *ctx, const json_t *v, char *out, size_t size, bool required)
{
	const char *s = dec_string(ctx, v, "a uid string");
	char		q[CLUSTER_QUOTE_SIZE];

	if (s == NULL)
		return false;
	if (s[0] == '\0' && required)
		return dec_fail(ctx, "must not be empty");
	if (s[0] != '\0' && !uid_is_valid(s))
		return dec_fail(ctx, "invalid uid %s (expected ^[a-z0-9_]+$, at most %d characters)",
						quote(s, q), UID_MAX_LEN);
	snprintf(out, size, "%s", s);
	return true;
}

/*
 * Lists and maps are sized from the JSON value up front (and maps sorted once at the end), so that a large
 * document costs O(n log n), not O(n^2) in reallocations and sorted inserts.
 */
static bool
dec_string_list(DecodeCtx *ctx, const json_t *v, StringList *out, bool uids)
{
	size_t		i;
	json_t	   *item;

	if (!json_is_array(v))
		return dec_fail(ctx, "expected an array, got %s", json_type_name(v));
	string_list_finish(out);
	if (json_array_size(v) > 0 && (out->items = calloc(json_array_size(v), sizeof(out->items[0]))) == NULL)
		return dec_fail(ctx, "out of memory");
	json_array_foreach(v, i, item)
	{
		size_t		saved = ctx_push_index(ctx, i);
		const char *s = dec_string(ctx, item, uids ? "a uid string" : "a string");
		char		q[CLUSTER_QUOTE_SIZE];

		if (s == NULL)
			return false;
		if (uids && !uid_is_valid(s))
			return dec_fail(ctx, "invalid uid %s (expected ^[a-z0-9_]+$, at most %d characters)",
							quote(s, q), UID_MAX_LEN);
		if ((out->items[out->count] = strdup(s)) == NULL)
			return dec_fail(ctx, "out of memory");
		out->count++;
		ctx_pop(ctx, saved);
	}
	return true;
}

static bool
pg_parameter_name_ok(const char *name)
{
	size_t		n = strlen(name);

	if (n == 0 || n > CLUSTER_PG_PARAM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (i > 0 && ((c >= '0' && c <= '9') || c == '.'))))
			return false;
	}
	return true;
}

static int
compare_parameters(const void *a, const void *b)
{
	return strcmp(((const PgParameter *) a)->name, ((const PgParameter *) b)->name);
}

static bool
dec_params(DecodeCtx *ctx, const json_t *v, PgParameters *out)
{
	const char *name;
	json_t	   *value;
	char		q[CLUSTER_QUOTE_SIZE];

	if (!json_is_object(v))
		return dec_fail(ctx, "expected an object, got %s", json_type_name(v));
	pg_parameters_finish(out);
	if (json_object_size(v) > 0 && (out->items = calloc(json_object_size(v), sizeof(out->items[0]))) == NULL)
		return dec_fail(ctx, "out of memory");
	json_object_foreach((json_t *) v, name, value)
	{
		size_t		saved;
		const char *s;
		PgParameter *p = &out->items[out->count];

		if (!pg_parameter_name_ok(name))
			return dec_fail(ctx, "invalid parameter name %s", quote(name, q));
		saved = ctx_push_key(ctx, name);
		if ((s = dec_string(ctx, value, "a string")) == NULL)
			return false;
		p->name = strdup(name);
		p->value = strdup(s);
		out->count++;
		if (p->name == NULL || p->value == NULL)
			return dec_fail(ctx, "out of memory");
		ctx_pop(ctx, saved);
	}
	/* names are unique: they are the keys of one JSON object */
	if (out->count > 1)
		qsort(out->items, out->count, sizeof(out->items[0]), compare_parameters);
	return true;
}

/* "X/X": two groups of 1 to 8 hex digits, PostgreSQL's pg_lsn text. */
static bool
parse_lsn(const char *s, uint64_t *out)
{
	uint64_t	parts[2] = {0, 0};

	for (int part = 0; part < 2; part++)
	{
		int			digits = 0;

		for (; *s != '\0' && *s != '/'; s++, digits++)
		{
			char		c = *s;
			int			d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return false;
			if (digits >= 8)
				return false;
			parts[part] = parts[part] * 16 + (uint64_t) d;
		}
		if (digits == 0)
			return false;
		if (part == 0)
		{
			if (*s != '/')
				return false;
			s++;
		}
	}
	if (*s != '\0')
		return false;
	*out = parts[0] << 32 | parts[1];
	return true;
}

static bool decode_object(DecodeCtx *ctx, const ObjectType *type, const json_t *json, void *obj);
static bool decode_spec(DecodeCtx *ctx, const json_t *json, json_t **sparse_out, ClusterSpec *effective);

static bool
dec_timelines(DecodeCtx *ctx, const json_t *v, TimelinesHistory *out)
{
	size_t		i;
	json_t	   *item;

	if (!json_is_array(v))
		return dec_fail(ctx, "expected an array, got %s", json_type_name(v));
	timelines_history_finish(out);
	if (json_array_size(v) > 0 && (out->items = calloc(json_array_size(v), sizeof(out->items[0]))) == NULL)
		return dec_fail(ctx, "out of memory");
	json_array_foreach(v, i, item)
	{
		size_t		saved = ctx_push_index(ctx, i);

		/* counted before decoding, so that a failed decode leaves nothing unowned */
		out->count++;
		if (!decode_object(ctx, &timeline_type, item, &out->items[i]))
			return false;
		ctx_pop(ctx, saved);
	}
	return true;
}

static bool
dec_int(DecodeCtx *ctx, const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
	json_int_t	n;

	if (!json_is_integer(v))
		return dec_fail(ctx, "expected an integer, got %s", json_type_name(v));
	n = json_integer_value(v);
	if (n < lo || n > hi)
	{
		if (lo == 0 && n < 0)
			return dec_fail(ctx, "must not be negative");
		return dec_fail(ctx, "must be between %" PRId64 " and %" PRId64, lo, hi);
	}
	*out = (int64_t) n;
	return true;
}

static bool
decode_field(DecodeCtx *ctx, const Field *f, const json_t *v, void *obj)
{
	const char *s;
	char		q[CLUSTER_QUOTE_SIZE];
	char		why[128];
	int64_t		n;

	switch (f->kind)
	{
		case FIELD_UID:
			return dec_uid(ctx, v, member(obj, f), f->size, f->required);
		case FIELD_STRING:
			if ((s = dec_string(ctx, v, "a string")) == NULL)
				return false;
			if (f->required && s[0] == '\0')
				return dec_fail(ctx, "must not be empty");
			if (strlen(s) >= f->size)
				return dec_fail(ctx, "too long (at most %zu characters)", f->size - 1);
			snprintf(member(obj, f), f->size, "%s", s);
			return true;
		case FIELD_TEXT:
			{
				char	   *copy;

				if ((s = dec_string(ctx, v, "a string")) == NULL)
					return false;
				if ((copy = strdup(s)) == NULL)
					return dec_fail(ctx, "out of memory");
				free(get_pointer(obj, f));
				set_pointer(obj, f, copy);
				return true;
			}
		case FIELD_BOOL:
			if (!json_is_boolean(v))
				return dec_fail(ctx, "expected true or false, got %s", json_type_name(v));
			*(bool *) member(obj, f) = json_is_true(v);
			return true;
		case FIELD_INT:
			if (!dec_int(ctx, v, f->min, f->max, &n))
				return false;
			*(int *) member(obj, f) = (int) n;
			return true;
		case FIELD_INT64:
			if (!dec_int(ctx, v, f->min, f->max, &n))
				return false;
			*(int64_t *) member(obj, f) = n;
			return true;
		case FIELD_UINT32:
			if (!dec_int(ctx, v, 0, UINT32_MAX, &n))
				return false;
			*(uint32_t *) member(obj, f) = (uint32_t) n;
			return true;
		case FIELD_LSN:
			if ((s = dec_string(ctx, v, "an LSN like \"0/3000060\"")) == NULL)
				return false;
			if (!parse_lsn(s, (uint64_t *) member(obj, f)))
				return dec_fail(ctx, "expected an LSN like \"0/3000060\", got %s", quote(s, q));
			return true;
		case FIELD_DURATION:
			if ((s = dec_string(ctx, v, "a duration like \"5s\"")) == NULL)
				return false;
			if (!duration_parse(s, (int64_t *) member(obj, f), why, sizeof(why)))
				return dec_fail(ctx, "expected a duration like \"5s\", got %s: %s", quote(s, q), why);
			return true;
		case FIELD_TIME:
			if ((s = dec_string(ctx, v, "an RFC 3339 time")) == NULL)
				return false;
			if (!timestamp_parse(s, (int64_t *) member(obj, f)))
				return dec_fail(ctx, "expected an RFC 3339 time like \"2024-01-02T03:04:05.678Z\", got %s",
								quote(s, q));
			return true;
		case FIELD_ENUM:
			{
				const EnumType *e = f->enum_type;
				char		expected[256] = "";
				size_t		used = 0;

				if ((s = dec_string(ctx, v, "a string")) == NULL)
					return false;
				for (int i = e->first; i <= e->last; i++)
				{
					if (strcmp(s, e->name(i)) == 0)
					{
						set_enum(obj, f, i);
						return true;
					}
				}
				for (int i = e->first; i <= e->last; i++)
				{
					int			w = snprintf(expected + used, sizeof(expected) - used, "%s%s",
											 i == e->first ? "" : (i == e->last ? " or " : ", "), e->name(i));

					if (w > 0 && (size_t) w < sizeof(expected) - used)
						used += (size_t) w;
				}
				return dec_fail(ctx, "unknown value %s (expected %s)", quote(s, q), expected);
			}
		case FIELD_UID_LIST:
			return dec_string_list(ctx, v, member(obj, f), true);
		case FIELD_STRING_LIST:
			return dec_string_list(ctx, v, member(obj, f), false);
		case FIELD_OPT_STRING_LIST:
			{
				StringList *l = get_pointer(obj, f);

				if (l == NULL)
				{
					if ((l = malloc(sizeof(*l))) == NULL)
						return dec_fail(ctx, "out of memory");
					string_list_init(l);
					set_pointer(obj, f, l);
				}
				return dec_string_list(ctx, v, l, false);
			}
		case FIELD_PARAMS:
			return dec_params(ctx, v, member(obj, f));
		case FIELD_TIMELINES:
			return dec_timelines(ctx, v, member(obj, f));
		case FIELD_OBJECT:
			return decode_object(ctx, f->object, v, member(obj, f));
		case FIELD_OPT_OBJECT:
			{
				void	   *sub;

				if (!json_is_object(v))
					return dec_fail(ctx, "expected an object, got %s", json_type_name(v));
				f->object->release(get_pointer(obj, f));
				set_pointer(obj, f, NULL);
				if ((sub = f->object->alloc()) == NULL)
					return dec_fail(ctx, "out of memory");
				set_pointer(obj, f, sub);
				return decode_object(ctx, f->object, v, sub);
			}
		case FIELD_SPEC:
			{
				Cluster    *c = obj;
				json_t	   *sparse = NULL;
				ClusterSpec spec;

				if (!decode_spec(ctx, v, &sparse, &spec))
					return false;
				json_decref(c->spec_sparse);
				cluster_spec_finish(&c->spec);
				c->spec_sparse = sparse;
				c->spec = spec;
				return true;
			}
	}
	return dec_fail(ctx, "internal error: unknown field kind");
}

static const Field *
find_field(const ObjectType *type, const char *name)
{
	for (size_t i = 0; i < type->nfields; i++)
		if (strcmp(type->fields[i].name, name) == 0)
			return &type->fields[i];
	return NULL;
}

/*
 * Decodes a JSON object into obj, which holds initial (or default) values: fields present replace them,
 * missing ones keep them. The first problem in document order is reported.
 */
static bool
decode_object(DecodeCtx *ctx, const ObjectType *type, const json_t *json, void *obj)
{
	const char *key;
	json_t	   *value;
	char		q[CLUSTER_QUOTE_SIZE];

	if (!json_is_object(json))
		return dec_fail(ctx, "expected an object, got %s", json_type_name(json));
	json_object_foreach((json_t *) json, key, value)
	{
		const Field *f = find_field(type, key);
		size_t		saved;

		if (f == NULL)
			return dec_fail(ctx, "unknown field %s", quote(key, q));
		if (ctx->null_is_unset && json_is_null(value))
			continue;
		saved = ctx_push_key(ctx, key);
		if (!decode_field(ctx, f, value, obj))
			return false;
		ctx_pop(ctx, saved);
	}
	for (size_t i = 0; i < type->nfields; i++)
	{
		const Field *f = &type->fields[i];
		json_t	   *v;

		if (!f->required)
			continue;
		v = json_object_get(json, f->name);
		if (v == NULL || (ctx->null_is_unset && json_is_null(v)))
			return dec_fail(ctx, "missing field \"%s\"", f->name);
	}
	return true;
}

/*
 * The sparse spec json (at ctx's path): *sparse_out = a copy without null members, *effective = defaults +
 * its fields, validated. On failure *effective holds the defaults and nothing is allocated.
 */
static bool
decode_spec(DecodeCtx *ctx, const json_t *json, json_t **sparse_out, ClusterSpec *effective)
{
	json_t	   *empty;
	json_t	   *sparse;
	json_t	   *read_only_lag;
	bool		saved_null = ctx->null_is_unset;
	bool		ok;
	char		why[512];

	cluster_spec_defaults(effective);
	if (!json_is_object(json))
		return dec_fail(ctx, "expected an object, got %s", json_type_name(json));

	ctx->null_is_unset = true;
	ok = decode_object(ctx, &cluster_spec_type, json, effective);
	ctx->null_is_unset = saved_null;
	if (!ok)
	{
		cluster_spec_finish(effective);
		return false;
	}

	read_only_lag = json_object_get(json, "maxReadOnlyLag");
	if (read_only_lag == NULL || json_is_null(read_only_lag))
		effective->max_read_only_lag = effective->max_standby_lag;

	if (!cluster_spec_validate(effective, why, sizeof(why)))
	{
		cluster_spec_finish(effective);
		/* the rule's message is rooted at "spec"; re-root it at this spec's path ("cluster.spec") */
		if (ctx->err != NULL && ctx->errlen > 0)
			snprintf(ctx->err, ctx->errlen, "%s%s", ctx->path, strncmp(why, "spec", 4) == 0 ? why + 4 : why);
		return false;
	}

	empty = json_object();
	sparse = empty != NULL ? json_merge_patch(empty, json) : NULL;
	json_decref(empty);
	if (sparse == NULL)
	{
		cluster_spec_finish(effective);
		return dec_fail(ctx, "out of memory");
	}
	*sparse_out = sparse;
	return true;
}

/* Parses text into a JSON object, with a message rooted at root on failure. Caller decrefs the result. */
static json_t *
parse_text(const char *text, size_t len, const char *root, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t	   *doc;

	if (text == NULL)
		len = 0;
	if (len > CLUSTER_JSON_MAX_TEXT)
	{
		snprintf(err, errlen, "%s: document too large (%zu bytes, at most %d)", root, len, CLUSTER_JSON_MAX_TEXT);
		return NULL;
	}
	doc = json_loadb(text != NULL ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
	{
		/* jansson quotes the offending token; keep only printable bytes of it */
		for (char *p = jerr.text; *p != '\0'; p++)
			if ((unsigned char) *p < 0x20 || (unsigned char) *p == 0x7f)
				*p = '?';
		snprintf(err, errlen, "%s: invalid JSON at line %d column %d: %s", root, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(doc))
	{
		snprintf(err, errlen, "%s: expected an object, got %s", root, json_type_name(doc));
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* ---- encoding ---- */

static json_t *encode_object(const ObjectType *type, const void *obj);
static json_t *encode_spec_sparse(const json_t *sparse);

static json_t *
enc_string_list(const StringList *l)
{
	json_t	   *a = json_array();

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < l->count; i++)
	{
		if (json_array_append_new(a, json_string(l->items[i])) != 0)
		{
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
enc_params(const PgParameters *p)
{
	json_t	   *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < p->count; i++)
	{
		if (json_object_set_new(o, p->items[i].name, json_string(p->items[i].value)) != 0)
		{
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *
enc_lsn(uint64_t lsn)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%" PRIX64 "/%" PRIX64, lsn >> 32, lsn & 0xffffffffu);
	return json_string(buf);
}

static json_t *
enc_timelines(const TimelinesHistory *h)
{
	json_t	   *a = json_array();

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < h->count; i++)
	{
		if (json_array_append_new(a, encode_object(&timeline_type, &h->items[i])) != 0)
		{
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/*
 * The JSON value of one field, a new reference; NULL either when out of memory or when the field is absent:
 * *omit tells which.
 */
static json_t *
encode_field(const Field *f, const void *obj, bool *omit)
{
	char		buf[64];

	*omit = false;
	switch (f->kind)
	{
		case FIELD_UID:
		case FIELD_STRING:
			return json_string(cmember(obj, f));
		case FIELD_TEXT:
			{
				const char *s = get_pointer(obj, f);

				*omit = s == NULL;
				return s != NULL ? json_string(s) : NULL;
			}
		case FIELD_BOOL:
			return json_boolean(*(const bool *) cmember(obj, f));
		case FIELD_INT:
			return json_integer(*(const int *) cmember(obj, f));
		case FIELD_INT64:
			return json_integer(*(const int64_t *) cmember(obj, f));
		case FIELD_UINT32:
			return json_integer(*(const uint32_t *) cmember(obj, f));
		case FIELD_LSN:
			return enc_lsn(*(const uint64_t *) cmember(obj, f));
		case FIELD_DURATION:
			return json_string(duration_format(*(const int64_t *) cmember(obj, f), buf, sizeof(buf)));
		case FIELD_TIME:
			return json_string(timestamp_format(*(const int64_t *) cmember(obj, f), buf, sizeof(buf)));
		case FIELD_ENUM:
			{
				int			v = get_enum(obj, f);

				*omit = v < f->enum_type->first || v > f->enum_type->last;
				return *omit ? NULL : json_string(f->enum_type->name(v));
			}
		case FIELD_UID_LIST:
		case FIELD_STRING_LIST:
			return enc_string_list(cmember(obj, f));
		case FIELD_OPT_STRING_LIST:
			{
				const StringList *l = get_pointer(obj, f);

				*omit = l == NULL;
				return l != NULL ? enc_string_list(l) : NULL;
			}
		case FIELD_PARAMS:
			return enc_params(cmember(obj, f));
		case FIELD_TIMELINES:
			return enc_timelines(cmember(obj, f));
		case FIELD_OBJECT:
			return encode_object(f->object, cmember(obj, f));
		case FIELD_OPT_OBJECT:
			{
				const void *sub = get_pointer(obj, f);

				*omit = sub == NULL;
				return sub != NULL ? encode_object(f->object, sub) : NULL;
			}
		case FIELD_SPEC:
			return encode_spec_sparse(((const Cluster *) obj)->spec_sparse);
	}
	return NULL;
}

/* A new JSON object with every field of obj; NULL when out of memory. */
static json_t *
encode_object(const ObjectType *type, const void *obj)
{
	json_t	   *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < type->nfields; i++)
	{
		bool		omit;
		json_t	   *v = encode_field(&type->fields[i], obj, &omit);

		if (omit)
			continue;
		if (v == NULL || json_object_set_new(o, type->fields[i].name, v) != 0)
		{
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *
encode_spec_sparse(const json_t *sparse)
{
	return sparse != NULL ? json_deep_copy(sparse) : json_object();
}

char *
cluster_json_dump(const json_t *value, bool pretty)
{
	if (value == NULL)
		return NULL;
	return json_dumps(value, JSON_SORT_KEYS | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
}

/* Dumps and releases v. */
static char *
dump_and_free(json_t *v, bool pretty)
{
	char	   *text = cluster_json_dump(v, pretty);

	json_decref(v);
	return text;
}

/* ---- equality, from the same field tables: two values are equal when they would encode the same ---- */

static bool equal_object(const ObjectType *type, const void *a, const void *b);

static bool
equal_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Parameters encode as a JSON object: equal whatever their order. */
static bool
equal_params(const PgParameters *a, const PgParameters *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
	{
		bool		found = false;

		for (size_t j = 0; j < b->count && !found; j++)
			found = strcmp(a->items[i].name, b->items[j].name) == 0 && strcmp(a->items[i].value, b->items[j].value) == 0;
		if (!found)
			return false;
	}
	return true;
}

static bool
equal_timelines(const TimelinesHistory *a, const TimelinesHistory *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (a->items[i].timeline_id != b->items[i].timeline_id || a->items[i].switch_point != b->items[i].switch_point ||
			!equal_text(a->items[i].reason, b->items[i].reason))
			return false;
	return true;
}

/* The stored (sparse) spec: absent encodes as an empty object. */
static bool
equal_spec_sparse(const json_t *a, const json_t *b)
{
	json_t	   *empty;
	bool		eq;

	if (a != NULL && b != NULL)
		return json_equal(a, b);
	if (a == NULL && b == NULL)
		return true;
	empty = json_object();
	eq = json_equal(a != NULL ? a : empty, b != NULL ? b : empty);
	json_decref(empty);
	return eq;
}

static bool
equal_field(const Field *f, const void *a, const void *b)
{
	switch (f->kind)
	{
		case FIELD_UID:
		case FIELD_STRING:
			return strcmp(cmember(a, f), cmember(b, f)) == 0;
		case FIELD_TEXT:
			return equal_text(get_pointer(a, f), get_pointer(b, f));
		case FIELD_BOOL:
			return *(const bool *) cmember(a, f) == *(const bool *) cmember(b, f);
		case FIELD_INT:
			return *(const int *) cmember(a, f) == *(const int *) cmember(b, f);
		case FIELD_INT64:
		case FIELD_DURATION:
		case FIELD_TIME:
			return *(const int64_t *) cmember(a, f) == *(const int64_t *) cmember(b, f);
		case FIELD_UINT32:
			return *(const uint32_t *) cmember(a, f) == *(const uint32_t *) cmember(b, f);
		case FIELD_LSN:
			return *(const uint64_t *) cmember(a, f) == *(const uint64_t *) cmember(b, f);
		case FIELD_ENUM:
			return get_enum(a, f) == get_enum(b, f);
		case FIELD_UID_LIST:
		case FIELD_STRING_LIST:
			return string_list_equal(cmember(a, f), cmember(b, f));
		case FIELD_OPT_STRING_LIST:
			{
				const StringList *la = get_pointer(a, f);
				const StringList *lb = get_pointer(b, f);

				return (la == NULL && lb == NULL) || (la != NULL && lb != NULL && string_list_equal(la, lb));
			}
		case FIELD_PARAMS:
			return equal_params(cmember(a, f), cmember(b, f));
		case FIELD_TIMELINES:
			return equal_timelines(cmember(a, f), cmember(b, f));
		case FIELD_OBJECT:
			return equal_object(f->object, cmember(a, f), cmember(b, f));
		case FIELD_OPT_OBJECT:
			{
				const void *sa = get_pointer(a, f);
				const void *sb = get_pointer(b, f);

				return (sa == NULL && sb == NULL) || (sa != NULL && sb != NULL && equal_object(f->object, sa, sb));
			}
		case FIELD_SPEC:
			return equal_spec_sparse(((const Cluster *) a)->spec_sparse, ((const Cluster *) b)->spec_sparse);
	}
	return false;
}

static bool
equal_object(const ObjectType *type, const void *a, const void *b)
{
	for (size_t i = 0; i < type->nfields; i++)
		if (!equal_field(&type->fields[i], a, b))
			return false;
	return true;
}

/* ---- clusterdata ---- */

static int
compare_keepers(const void *a, const void *b)
{
	return strcmp((*(Keeper *const *) a)->uid, (*(Keeper *const *) b)->uid);
}

static int
compare_dbs(const void *a, const void *b)
{
	return strcmp((*(Db *const *) a)->uid, (*(Db *const *) b)->uid);
}

/*
 * The keepers and dbs maps fill cd's arrays directly and sort them once (uids are unique: they are the keys of
 * one JSON object), rather than through cluster_data_add_*, whose sorted insert is quadratic over a document.
 */
static bool
dec_keepers(DecodeCtx *ctx, const json_t *v, ClusterData *cd)
{
	const char *uid;
	json_t	   *value;
	char		q[CLUSTER_QUOTE_SIZE];

	if (!json_is_object(v))
		return dec_fail(ctx, "expected an object, got %s", json_type_name(v));
	if (cd->keeper_count > 0)
		return dec_fail(ctx, "internal error: keepers decoded twice");
	if (json_object_size(v) > 0 && (cd->keepers = calloc(json_object_size(v), sizeof(cd->keepers[0]))) == NULL)
		return dec_fail(ctx, "out of memory");
	json_object_foreach((json_t *) v, uid, value)
	{
		Keeper	   *k;
		size_t		saved;

		if (!uid_is_valid(uid))
			return dec_fail(ctx, "invalid keeper uid %s (expected ^[a-z0-9_]+$, at most %d characters)",
							quote(uid, q), UID_MAX_LEN);
		if ((k = malloc(sizeof(*k))) == NULL)
			return dec_fail(ctx, "out of memory");
		keeper_init(k);
		snprintf(k->uid, sizeof(k->uid), "%s", uid);
		cd->keepers[cd->keeper_count++] = k;
		saved = ctx_push_key(ctx, uid);
		if (!decode_object(ctx, &keeper_type, value, k))
			return false;
		ctx_pop(ctx, saved);
	}
	if (cd->keeper_count > 1)
		qsort(cd->keepers, cd->keeper_count, sizeof(cd->keepers[0]), compare_keepers);
	return true;
}

static bool
dec_dbs(DecodeCtx *ctx, const json_t *v, ClusterData *cd)
{
	const char *uid;
	json_t	   *value;
	char		q[CLUSTER_QUOTE_SIZE];

	if (!json_is_object(v))
		return dec_fail(ctx, "expected an object, got %s", json_type_name(v));
	if (cd->db_count > 0)
		return dec_fail(ctx, "internal error: dbs decoded twice");
	if (json_object_size(v) > 0 && (cd->dbs = calloc(json_object_size(v), sizeof(cd->dbs[0]))) == NULL)
		return dec_fail(ctx, "out of memory");
	json_object_foreach((json_t *) v, uid, value)
	{
		Db		   *db;
		size_t		saved;

		if (!uid_is_valid(uid))
			return dec_fail(ctx, "invalid db uid %s (expected ^[a-z0-9_]+$, at most %d characters)",
							quote(uid, q), UID_MAX_LEN);
		if ((db = malloc(sizeof(*db))) == NULL)
			return dec_fail(ctx, "out of memory");
		db_init(db);
		snprintf(db->uid, sizeof(db->uid), "%s", uid);
		cd->dbs[cd->db_count++] = db;
		saved = ctx_push_key(ctx, uid);
		if (!decode_object(ctx, &db_type, value, db))
			return false;
		ctx_pop(ctx, saved);
	}
	if (cd->db_count > 1)
		qsort(cd->dbs, cd->db_count, sizeof(cd->dbs[0]), compare_dbs);
	return true;
}

static bool
cluster_data_decode_doc(DecodeCtx *ctx, const json_t *doc, ClusterData *cd)
{
	const char *key;
	json_t	   *value;
	json_t	   *version = json_object_get(doc, "formatVersion");
	char		q[CLUSTER_QUOTE_SIZE];
	bool		have_cluster = false;
	bool		have_proxy = false;

	if (!json_is_object(doc))
		return dec_fail(ctx, "expected an object, got %s", json_type_name(doc));

	/* the version first: a newer document is refused as such, not for the fields it added */
	ctx_push_key(ctx, "formatVersion");
	if (version == NULL)
	{
		ctx_pop(ctx, 0);
		return dec_fail(ctx, "missing field \"formatVersion\"");
	}
	if (!json_is_integer(version))
		return dec_fail(ctx, "expected an integer, got %s", json_type_name(version));
	if (json_integer_value(version) != CLUSTER_DATA_FORMAT_VERSION)
		return dec_fail(ctx, "unsupported format version %" JSON_INTEGER_FORMAT " (this release reads version %d)",
						json_integer_value(version), CLUSTER_DATA_FORMAT_VERSION);
	ctx_pop(ctx, 0);
	cd->format_version = CLUSTER_DATA_FORMAT_VERSION;

	json_object_foreach((json_t *) doc, key, value)
	{
		bool		ok;
		size_t		saved;

		if (strcmp(key, "formatVersion") == 0)
			continue;
		saved = ctx_push_key(ctx, key);
		if (strcmp(key, "changeTime") == 0)
		{
			static const Field change_time = F_TIME("changeTime", ClusterData, change_time_ms);

			ok = decode_field(ctx, &change_time, value, cd);
		}
		else if (strcmp(key, "cluster") == 0)
		{
			ok = decode_object(ctx, &cluster_type, value, &cd->cluster);
			have_cluster = true;
		}
		else if (strcmp(key, "keepers") == 0)
			ok = dec_keepers(ctx, value, cd);
		else if (strcmp(key, "dbs") == 0)
			ok = dec_dbs(ctx, value, cd);
		else if (strcmp(key, "proxy") == 0)
		{
			ok = decode_object(ctx, &proxy_type, value, &cd->proxy);
			have_proxy = true;
		}
		else
		{
			ctx_pop(ctx, saved);
			return dec_fail(ctx, "unknown field %s", quote(key, q));
		}
		if (!ok)
			return false;
		ctx_pop(ctx, saved);
	}
	if (!have_cluster)
		return dec_fail(ctx, "missing field \"cluster\"");
	if (!have_proxy)
		return dec_fail(ctx, "missing field \"proxy\"");
	return true;
}

bool
cluster_data_from_json(const json_t *doc, ClusterData *out, char *err, size_t errlen)
{
	DecodeCtx	ctx;

	cluster_data_init(out);
	ctx_init(&ctx, "clusterdata", err, errlen);
	if (doc == NULL)
		return dec_fail(&ctx, "no document");
	if (!cluster_data_decode_doc(&ctx, doc, out))
	{
		cluster_data_finish(out);
		return false;
	}
	return true;
}

bool
cluster_data_decode(const char *text, size_t len, ClusterData *out, char *err, size_t errlen)
{
	json_t	   *doc;
	bool		ok;

	cluster_data_init(out);
	if ((doc = parse_text(text, len, "clusterdata", err, errlen)) == NULL)
		return false;
	ok = cluster_data_from_json(doc, out, err, errlen);
	json_decref(doc);
	return ok;
}

/* Sets key to a new value in o, releasing v on failure; false when v is NULL or the set fails. */
static bool
set_new(json_t *o, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(o, key, v) == 0;
}

json_t *
cluster_data_to_json(const ClusterData *cd)
{
	json_t	   *doc = json_object();
	json_t	   *keepers;
	json_t	   *dbs;
	char		buf[TIMESTAMP_FORMAT_SIZE];
	bool		ok;

	if (doc == NULL)
		return NULL;
	ok = set_new(doc, "formatVersion", json_integer(cd->format_version)) &&
		set_new(doc, "changeTime", json_string(timestamp_format(cd->change_time_ms, buf, sizeof(buf)))) &&
		set_new(doc, "cluster", encode_object(&cluster_type, &cd->cluster)) &&
		set_new(doc, "keepers", json_object()) &&
		set_new(doc, "dbs", json_object()) &&
		set_new(doc, "proxy", encode_object(&proxy_type, &cd->proxy));
	keepers = json_object_get(doc, "keepers");
	dbs = json_object_get(doc, "dbs");
	for (size_t i = 0; ok && i < cd->keeper_count; i++)
		ok = set_new(keepers, cd->keepers[i]->uid, encode_object(&keeper_type, cd->keepers[i]));
	for (size_t i = 0; ok && i < cd->db_count; i++)
		ok = set_new(dbs, cd->dbs[i]->uid, encode_object(&db_type, cd->dbs[i]));
	if (!ok)
	{
		json_decref(doc);
		return NULL;
	}
	return doc;
}

char *
cluster_data_encode(const ClusterData *cd, bool pretty)
{
	json_t	   *doc = cluster_data_to_json(cd);

	return doc != NULL ? dump_and_free(doc, pretty) : NULL;
}

bool
cluster_data_equal(const ClusterData *a, const ClusterData *b)
{
	if (a->format_version != b->format_version || a->change_time_ms != b->change_time_ms ||
		a->keeper_count != b->keeper_count || a->db_count != b->db_count ||
		!equal_object(&cluster_type, &a->cluster, &b->cluster) || !equal_object(&proxy_type, &a->proxy, &b->proxy))
		return false;
	/* both sorted by uid (the document's maps) */
	for (size_t i = 0; i < a->keeper_count; i++)
		if (strcmp(a->keepers[i]->uid, b->keepers[i]->uid) != 0 ||
			!equal_object(&keeper_type, a->keepers[i], b->keepers[i]))
			return false;
	for (size_t i = 0; i < a->db_count; i++)
		if (strcmp(a->dbs[i]->uid, b->dbs[i]->uid) != 0 || !equal_object(&db_type, a->dbs[i], b->dbs[i]))
			return false;
	return true;
}

bool
cluster_data_new_for_init(const json_t *sparse_spec, ClusterData *out, char *err, size_t errlen)
{
	DecodeCtx	ctx;
	json_t	   *empty = NULL;
	json_t	   *sparse = NULL;
	ClusterSpec spec;
	int64_t		now = timestamp_now_ms();

	cluster_data_init(out);
	ctx_init(&ctx, "spec", err, errlen);
	ctx_push_key(&ctx, "spec");
	if (sparse_spec == NULL && (sparse_spec = empty = json_object()) == NULL)
		return dec_fail(&ctx, "out of memory");
	if (!decode_spec(&ctx, sparse_spec, &sparse, &spec))
	{
		json_decref(empty);
		return false;
	}
	json_decref(empty);
	out->cluster.spec_sparse = sparse;
	out->cluster.spec = spec;

	if (!uid_generate(out->cluster.uid, sizeof(out->cluster.uid)))
	{
		cluster_data_finish(out);
		snprintf(err, errlen, "could not generate a cluster uid");
		return false;
	}
	out->format_version = CLUSTER_DATA_FORMAT_VERSION;
	out->change_time_ms = now;
	out->cluster.generation = CLUSTER_INITIAL_GENERATION;
	out->cluster.change_time_ms = now;
	out->cluster.status.phase = CLUSTER_PHASE_INITIALIZING;
	out->proxy.generation = CLUSTER_INITIAL_GENERATION;
	out->proxy.change_time_ms = now;
	return true;
}

bool
cluster_data_set_spec(ClusterData *cd, const json_t *sparse, char *err, size_t errlen)
{
	DecodeCtx	ctx;
	json_t	   *clean = NULL;
	ClusterSpec spec;
	char		why[512];

	ctx_init(&ctx, "spec", err, errlen);
	ctx_push_key(&ctx, "spec");
	if (sparse == NULL)
		return dec_fail(&ctx, "no spec");
	if (!decode_spec(&ctx, sparse, &clean, &spec))
		return false;
	if (!cluster_spec_validate_update(&cd->cluster.spec, &spec, why, sizeof(why)))
	{
		snprintf(err, errlen, "%s", why);
		json_decref(clean);
		cluster_spec_finish(&spec);
		return false;
	}
	json_decref(cd->cluster.spec_sparse);
	cluster_spec_finish(&cd->cluster.spec);
	cd->cluster.spec_sparse = clean;
	cd->cluster.spec = spec;
	return true;
}

bool
cluster_data_patch_spec(ClusterData *cd, const json_t *patch, char *err, size_t errlen)
{
	json_t	   *empty = NULL;
	json_t	   *current = cd->cluster.spec_sparse;
	json_t	   *merged;
	bool		ok;

	if (patch == NULL || !json_is_object(patch))
	{
		snprintf(err, errlen, "spec: a patch must be an object, got %s", patch ? json_type_name(patch) : "nothing");
		return false;
	}
	if (current == NULL && (current = empty = json_object()) == NULL)
	{
		snprintf(err, errlen, "spec: out of memory");
		return false;
	}
	merged = json_merge_patch(current, patch);
	json_decref(empty);
	if (merged == NULL)
	{
		snprintf(err, errlen, "spec: out of memory");
		return false;
	}
	ok = cluster_data_set_spec(cd, merged, err, errlen);
	json_decref(merged);
	return ok;
}

/* ---- the cluster spec ---- */

bool
cluster_spec_decode(const json_t *sparse, ClusterSpec *effective, char *err, size_t errlen)
{
	DecodeCtx	ctx;
	json_t	   *clean = NULL;

	ctx_init(&ctx, "spec", err, errlen);
	ctx_push_key(&ctx, "spec");
	if (sparse == NULL)
	{
		cluster_spec_defaults(effective);
		return dec_fail(&ctx, "no spec");
	}
	if (!decode_spec(&ctx, sparse, &clean, effective))
		return false;
	json_decref(clean);
	return true;
}

bool
cluster_spec_decode_text(const char *text, size_t len, json_t **sparse_out, ClusterSpec *effective,
						 char *err, size_t errlen)
{
	DecodeCtx	ctx;
	json_t	   *doc;
	json_t	   *clean = NULL;
	bool		ok;

	cluster_spec_defaults(effective);
	if ((doc = parse_text(text, len, "spec", err, errlen)) == NULL)
		return false;
	ctx_init(&ctx, "spec", err, errlen);
	ctx_push_key(&ctx, "spec");
	ok = decode_spec(&ctx, doc, &clean, effective);
	json_decref(doc);
	if (ok && sparse_out != NULL)
		*sparse_out = clean;
	else
		json_decref(clean);
	return ok;
}

json_t *
cluster_spec_encode(const ClusterSpec *spec)
{
	return encode_object(&cluster_spec_type, spec);
}

/* ---- reports ---- */

static bool
info_decode(const char *text, size_t len, const char *root, const ObjectType *type, void *out,
			char *err, size_t errlen)
{
	DecodeCtx	ctx;
	json_t	   *doc;
	bool		ok;

	if ((doc = parse_text(text, len, root, err, errlen)) == NULL)
		return false;
	ctx_init(&ctx, root, err, errlen);
	ok = decode_object(&ctx, type, doc, out);
	json_decref(doc);
	return ok;
}

bool
keeper_info_decode(const char *text, size_t len, KeeperInfo *out, char *err, size_t errlen)
{
	keeper_info_init(out);
	if (!info_decode(text, len, "keeperinfo", &keeper_info_type, out, err, errlen))
	{
		keeper_info_finish(out);
		return false;
	}
	return true;
}

char *
keeper_info_encode(const KeeperInfo *ki)
{
	json_t	   *o = encode_object(&keeper_info_type, ki);

	return o != NULL ? dump_and_free(o, false) : NULL;
}

bool
sentinel_info_decode(const char *text, size_t len, SentinelInfo *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!info_decode(text, len, "sentinelinfo", &sentinel_info_type, out, err, errlen))
	{
		memset(out, 0, sizeof(*out));
		return false;
	}
	return true;
}

char *
sentinel_info_encode(const SentinelInfo *si)
{
	json_t	   *o = encode_object(&sentinel_info_type, si);

	return o != NULL ? dump_and_free(o, false) : NULL;
}

bool
proxy_info_decode(const char *text, size_t len, ProxyInfo *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!info_decode(text, len, "proxyinfo", &proxy_info_type, out, err, errlen))
	{
		memset(out, 0, sizeof(*out));
		return false;
	}
	return true;
}

char *
proxy_info_encode(const ProxyInfo *pi)
{
	json_t	   *o = encode_object(&proxy_info_type, pi);

	return o != NULL ? dump_and_free(o, false) : NULL;
}

bool
db_spec_equal(const DbSpec *a, const DbSpec *b)
{
	json_t	   *ja = encode_object(&db_spec_type, a);
	json_t	   *jb = encode_object(&db_spec_type, b);
	bool		equal = ja != NULL && jb != NULL && json_equal(ja, jb);

	json_decref(ja);
	json_decref(jb);
	return equal;
}
