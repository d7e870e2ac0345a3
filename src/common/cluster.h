/*
 * src/common/cluster.h
 *    The cluster data model (docs/design.md section 4, after Stolon's): the ClusterData document the leader sentinel and
 *    bulwarkctl write, its ClusterSpec with defaults and validation, and the reports each component publishes
 *    about itself (KeeperInfo, SentinelInfo, ProxyInfo). The JSON form lives in cluster_json.h.
 *
 * Memory layout. Every type is a plain struct owned by whoever holds it, with x_init/x_finish for storage the
 * caller provides and x_copy for deep copies. Uids are fixed char[UID_SIZE] (see uid.h); free text (commands,
 * conninfo strings, hba lines, parameter values) is heap memory, and an optional sub-object is a pointer that
 * is NULL when absent. Lists are StringList (heap array of heap strings); parameter maps are PgParameters,
 * kept sorted by name. ClusterData holds keepers and dbs as arrays of pointers sorted by uid, so a Keeper * or
 * Db * found by uid stays valid while others are added or removed.
 *
 * The cluster spec is kept twice in Cluster: spec_sparse, the JSON object of the fields the user set (what is
 * stored, so a later release can change a default), and spec, the effective ClusterSpec with defaults applied
 * (what the code reads). Change them together through cluster_data_set_spec()/cluster_data_patch_spec() in
 * cluster_json.h.
 *
 * Times are int64 milliseconds since the Unix epoch (timestamp.h); durations are int64 milliseconds
 * (duration.h); WAL positions are uint64 LSNs.
 */
#ifndef BULWARK_CLUSTER_H
#define BULWARK_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uid.h"

/* The only format this release reads and writes; a document with another formatVersion is refused. */
#define CLUSTER_DATA_FORMAT_VERSION 1

/* Generations: 0 = never converged (a keeper reports 0 before its first successful pass), 1 = first. */
#define CLUSTER_NO_GENERATION 0
#define CLUSTER_INITIAL_GENERATION 1

/* Prefix of every replication slot and application_name bulwark manages; user slots may not use it. */
#define CLUSTER_SLOT_PREFIX "bulwark_"

#define CLUSTER_HOST_SIZE 256	/* a DNS name (253) or an IP address, and the NUL */
#define CLUSTER_SYSTEM_ID_SIZE 32	/* PostgreSQL's system identifier, a uint64 in decimal */
#define CLUSTER_WAL_FILE_SIZE 32	/* a WAL segment file name: 24 hex digits */
#define CLUSTER_PG_PARAM_NAME_MAX 63	/* PostgreSQL's NAMEDATALEN - 1 */

/* ---- enums: every one has x_to_string (for logs and JSON) and x_from_string (false when unknown) ---- */

typedef enum ClusterPhase
{
	CLUSTER_PHASE_INITIALIZING = 0,
	CLUSTER_PHASE_NORMAL,
} ClusterPhase;

typedef enum ClusterRole
{
	CLUSTER_ROLE_MASTER = 0,	/* the cluster has its own primary */
	CLUSTER_ROLE_STANDBY,		/* a standby cluster: its head follows an external primary */
} ClusterRole;

/* The spec accepts new, existing and pitr; a DB also none (initialized) and resync (a fresh standby). */
typedef enum InitMode
{
	INIT_MODE_NONE = 0,
	INIT_MODE_NEW,
	INIT_MODE_EXISTING,
	INIT_MODE_PITR,
	INIT_MODE_RESYNC,
} InitMode;

typedef enum DbRole
{
	DB_ROLE_MASTER = 0,
	DB_ROLE_STANDBY,
} DbRole;

typedef enum FollowType
{
	FOLLOW_TYPE_INTERNAL = 0,	/* follows another DB of this cluster */
	FOLLOW_TYPE_EXTERNAL,		/* follows a primary outside it (head of a standby cluster) */
} FollowType;

/* pg_hba lines for the superuser and replication user: from anywhere (all) or from the cluster's DBs (strict). */
typedef enum SuReplAccessMode
{
	SU_REPL_ACCESS_ALL = 0,
	SU_REPL_ACCESS_STRICT,
} SuReplAccessMode;

const char *cluster_phase_to_string(ClusterPhase v);
bool cluster_phase_from_string(const char *s, ClusterPhase *out) __attribute__((warn_unused_result));
const char *cluster_role_to_string(ClusterRole v);
bool cluster_role_from_string(const char *s, ClusterRole *out) __attribute__((warn_unused_result));
const char *init_mode_to_string(InitMode v);
bool init_mode_from_string(const char *s, InitMode *out) __attribute__((warn_unused_result));
const char *db_role_to_string(DbRole v);
bool db_role_from_string(const char *s, DbRole *out) __attribute__((warn_unused_result));
const char *follow_type_to_string(FollowType v);
bool follow_type_from_string(const char *s, FollowType *out) __attribute__((warn_unused_result));
const char *su_repl_access_mode_to_string(SuReplAccessMode v);
bool su_repl_access_mode_from_string(const char *s, SuReplAccessMode *out) __attribute__((warn_unused_result));

/*
 * cluster_text_quote: s between double quotes with JSON escapes (quote, backslash, control bytes), for error
 * messages; written into buf (CLUSTER_QUOTE_SIZE is enough) and returned. Text beyond 64 bytes is cut and marked
 * with "...", so that bytes from the network can neither forge log lines nor flood them.
 */
const char *cluster_text_quote(const char *s, char *buf, size_t size);

/* Big enough for any cluster_text_quote result. */
#define CLUSTER_QUOTE_SIZE 400

/* ---- StringList: an ordered list of owned strings ---- */

typedef struct StringList
{
	char	  **items;
	size_t		count;
} StringList;

/* string_list_init: an empty list; string_list_finish frees the items and leaves the list empty. */
void string_list_init(StringList *l);
void string_list_finish(StringList *l);

/* string_list_append: appends a copy of s; false when memory runs out (the list is unchanged). */
bool string_list_append(StringList *l, const char *s) __attribute__((warn_unused_result));

/* string_list_copy: dst (uninitialized) becomes a deep copy of src; false when memory runs out, dst left empty. */
bool string_list_copy(StringList *dst, const StringList *src) __attribute__((warn_unused_result));

/* string_list_contains: true when an item equals s; string_list_equal: same items in the same order. */
bool string_list_contains(const StringList *l, const char *s);
bool string_list_equal(const StringList *a, const StringList *b);

/* string_list_sort: sorts in byte order (strcmp), the order of every uid list in the cluster data. */
void string_list_sort(StringList *l);

/* string_list_remove: removes (and frees) every item equal to s; returns how many were removed. */
size_t string_list_remove(StringList *l, const char *s);

/* ---- PgParameters: PostgreSQL parameters, name -> value, sorted by name, names unique ---- */

typedef struct PgParameter
{
	char	   *name;
	char	   *value;
} PgParameter;

typedef struct PgParameters
{
	PgParameter *items;
	size_t		count;
} PgParameters;

/* pg_parameters_init: an empty map; pg_parameters_finish frees every name and value and leaves it empty. */
void pg_parameters_init(PgParameters *p);
void pg_parameters_finish(PgParameters *p);

/* pg_parameters_set: sets name to a copy of value, replacing any previous value; false when out of memory. */
bool pg_parameters_set(PgParameters *p, const char *name, const char *value) __attribute__((warn_unused_result));

/* pg_parameters_get: the value of name (borrowed, valid until the next change), or NULL when not set. */
const char *pg_parameters_get(const PgParameters *p, const char *name);

/* pg_parameters_remove: true when name was set (and is now removed). */
bool pg_parameters_remove(PgParameters *p, const char *name);

/* pg_parameters_copy: dst (uninitialized) becomes a deep copy of src; false when out of memory, dst empty. */
bool pg_parameters_copy(PgParameters *dst, const PgParameters *src) __attribute__((warn_unused_result));

/* pg_parameters_equal: the same names with the same values. */
bool pg_parameters_equal(const PgParameters *a, const PgParameters *b);

/*
 * cluster_pg_parameter_is_managed: true when bulwark's keeper sets this parameter itself, so the spec may not set
 * it and keepers leave it out of what they report (compared case-insensitively, as PostgreSQL does):
 *   listen_addresses, port, unix_socket_directories      (from the keeper's flags)
 *   config_file, data_directory, hba_file, ident_file,   (the keeper owns PGDATA and the files it writes)
 *   external_pid_file
 *   hot_standby, max_replication_slots, max_wal_senders, (replication; from maxStandbys, additionalWalSenders,
 *   wal_log_hints, synchronous_standby_names              usePgrewind and the sync standby set)
 *   primary_conninfo, primary_slot_name, restore_command, (recovery: from the follow config, the pitr and the
 *   recovery_min_apply_delay, recovery_target, standby configs)
 *   recovery_target_action, recovery_target_inclusive,
 *   recovery_target_lsn, recovery_target_name, recovery_target_time,
 *   recovery_target_timeline, recovery_target_xid, standby_mode, promote_trigger_file, trigger_file
 * wal_level is also managed but may be raised to "logical" (see cluster_spec_validate), as Stolon allows;
 * wal_keep_size and wal_keep_segments may be set and the keeper only enforces a floor.
 */
bool cluster_pg_parameter_is_managed(const char *name);

/* ---- ClusterSpec and its sub-configurations ---- */

typedef struct NewConfig
{
	char	   *locale;			/* initdb --locale; NULL = initdb's default */
	char	   *encoding;		/* initdb --encoding; NULL = default */
	bool		data_checksums; /* initdb --data-checksums */
} NewConfig;

typedef struct ArchiveRecoverySettings
{
	char	   *restore_command;	/* restore_command; NULL = none */
} ArchiveRecoverySettings;

/* PostgreSQL recovery target parameters; NULL = not set. */
typedef struct RecoveryTargetSettings
{
	char	   *recovery_target;
	char	   *recovery_target_lsn;
	char	   *recovery_target_name;
	char	   *recovery_target_time;
	char	   *recovery_target_xid;
	char	   *recovery_target_timeline;
} RecoveryTargetSettings;

/* How the head of a standby cluster follows its external primary; NULL = not set. */
typedef struct StandbySettings
{
	char	   *primary_conninfo;
	char	   *primary_slot_name;
	char	   *recovery_min_apply_delay;
} StandbySettings;

typedef struct PitrConfig
{
	char	   *data_restore_command;	/* run with sh -c to fill PGDATA; %d = PGDATA, %% = % (required) */
	ArchiveRecoverySettings *archive_recovery_settings;
	RecoveryTargetSettings *recovery_target_settings;
} PitrConfig;

typedef struct ExistingConfig
{
	char		keeper_uid[UID_SIZE];	/* the keeper whose existing PGDATA becomes the master */
} ExistingConfig;

typedef struct StandbyConfig
{
	StandbySettings *standby_settings;
	ArchiveRecoverySettings *archive_recovery_settings;
} StandbyConfig;

/*
 * The effective cluster spec: every field has a value (defaults applied). JSON names in comments; see
 * cluster_spec_defaults() for the default values and cluster_spec_validate() for the rules.
 */
typedef struct ClusterSpec
{
	int64_t		sleep_interval_ms;	/* sleepInterval: keeper and sentinel loop period */
	int64_t		request_timeout_ms; /* requestTimeout: keeper's PostgreSQL requests */
	int64_t		convergence_timeout_ms; /* convergenceTimeout: a DB reaching its generation; 0 = no limit */
	int64_t		init_timeout_ms;	/* initTimeout: initdb of initMode new; 0 = no limit */
	int64_t		sync_timeout_ms;	/* syncTimeout: a new resync standby, and pitr recovery; 0 = no limit */
	int64_t		db_wait_ready_timeout_ms;	/* dbWaitReadyTimeout: PostgreSQL accepting connections */
	int64_t		fail_interval_ms;	/* failInterval: in error this long = unhealthy */
	int64_t		dead_keeper_removal_interval_ms;	/* deadKeeperRemovalInterval */
	int64_t		proxy_check_interval_ms;	/* proxyCheckInterval: proxy loop period */
	int64_t		proxy_timeout_ms;	/* proxyTimeout: a proxy that cannot check this long fences itself */
	int			max_standbys;	/* maxStandbys: sizes max_replication_slots and max_wal_senders */
	int			max_standbys_per_sender;	/* maxStandbysPerSender: standbys kept under the master */
	int64_t		max_standby_lag;	/* maxStandbyLag: bytes; beyond it an async standby cannot be elected */
	int64_t		max_read_only_lag;	/* maxReadOnlyLag: bytes; beyond it a standby leaves the proxies' RO set */
	bool		synchronous_replication;	/* synchronousReplication */
	int			min_synchronous_standbys;	/* minSynchronousStandbys */
	int			max_synchronous_standbys;	/* maxSynchronousStandbys */
	int			additional_wal_senders; /* additionalWalSenders */
	StringList	additional_master_replication_slots;	/* additionalMasterReplicationSlots: "bulwark_" + name */
	bool		use_pg_rewind;	/* usePgrewind */
	InitMode	init_mode;		/* initMode: new, existing or pitr (required: INIT_MODE_NONE = unset) */
	bool		merge_pg_parameters;	/* mergePgParameters: adopt the initial instance's parameters */
	ClusterRole role;			/* role */
	NewConfig  *new_config;		/* newConfig */
	PitrConfig *pitr_config;	/* pitrConfig */
	ExistingConfig *existing_config;	/* existingConfig */
	StandbyConfig *standby_config;	/* standbyConfig */
	SuReplAccessMode default_su_repl_access_mode;	/* defaultSUReplAccessMode */
	PgParameters pg_parameters; /* pgParameters */
	StringList *pg_hba;			/* pgHBA: NULL = the default "host all all 0.0.0.0/0 md5" lines */
	bool		automatic_pg_restart;	/* automaticPgRestart: restart when a parameter needs it */
	bool		failsafe_mode;	/* failsafeMode: a master cut from the store stays writable while every
								 * electable keeper promises directly not to be promoted (src/common/fencing.h) */
} ClusterSpec;

/*
 * cluster_spec_defaults: fills *spec (uninitialized storage; nothing is freed) with the default of every field,
 * initMode unset. The one place defaults are defined. maxReadOnlyLag defaults to maxStandbyLag: the JSON
 * decoder applies that to the effective maxStandbyLag when the sparse spec does not set maxReadOnlyLag.
 */
void cluster_spec_defaults(ClusterSpec *spec);

/* cluster_spec_finish: frees what the spec owns; the storage is left as after cluster_spec_defaults(). */
void cluster_spec_finish(ClusterSpec *spec);

/* cluster_spec_copy: dst (uninitialized) becomes a deep copy of src; false when out of memory, dst then holds defaults. */
bool cluster_spec_copy(ClusterSpec *dst, const ClusterSpec *src) __attribute__((warn_unused_result));

/*
 * cluster_spec_validate: true when the spec satisfies every rule; otherwise false with one message naming the
 * field in err, e.g. "spec.failInterval: must be greater than sleepInterval (1s)". The rules:
 *   - every duration >= 0; sleepInterval, requestTimeout, failInterval, dbWaitReadyTimeout,
 *     deadKeeperRemovalInterval, proxyCheckInterval and proxyTimeout > 0 (0 = "no limit" only makes sense for
 *     convergenceTimeout, initTimeout and syncTimeout);
 *   - failInterval > sleepInterval (a keeper must be able to miss at least one report before it is failed);
 *   - proxyCheckInterval < proxyTimeout (a proxy must get a check in before its own deadline);
 *   - there is deliberately no rule between proxyTimeout and sleepInterval: a proxy's deadline depends only on
 *     its own check loop, and the sentinel waits 2 * proxyTimeout for a silent proxy whatever sleepInterval is;
 *   - maxStandbys, maxStandbysPerSender, maxSynchronousStandbys >= 1; maxStandbysPerSender <= maxStandbys
 *     (each standby needs a slot); minSynchronousStandbys >= 0; maxSynchronousStandbys >= minSynchronousStandbys;
 *   - maxStandbyLag, maxReadOnlyLag, additionalWalSenders >= 0;
 *   - initMode is new, existing or pitr; existing needs existingConfig.keeperUID (a valid uid); pitr needs
 *     pitrConfig.dataRestoreCommand; role standby needs standbyConfig with standbySettings.primaryConninfo or
 *     archiveRecoverySettings.restoreCommand; new forbids role standby; pitr with role standby forbids
 *     pitrConfig.recoveryTargetSettings;
 *   - additionalMasterReplicationSlots: each ^[a-z0-9_]+$, at most 55 characters (the slot is named
 *     "bulwark_<name>", and PostgreSQL allows 63), not itself starting with "bulwark_", no duplicates;
 *   - pgHBA lines contain no newline;
 *   - pgParameters: valid names, values without newline, no managed name (cluster_pg_parameter_is_managed),
 *     wal_level only "logical".
 */
bool cluster_spec_validate(const ClusterSpec *spec, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * cluster_spec_validate_update: true when a cluster running with old may switch to new: new is valid, initMode
 * is unchanged and the role does not go from master to standby (a primary cannot become a standby cluster's
 * head in place). Otherwise false with a message in err.
 */
bool cluster_spec_validate_update(const ClusterSpec *old, const ClusterSpec *new_spec, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* ---- Cluster ---- */

/* Who asked for an operator action: "user@host" as bulwarkctl saw it, cut to fit. */
#define CLUSTER_ACTOR_SIZE 128

/*
 * Maintenance mode (bulwarkctl pause): while present, the leader sentinel keeps observing (keeper health, DB
 * status) but makes no decision: no init, failover, switchover, standby added or removed, keeper removed.
 */
typedef struct Maintenance
{
	int64_t		since_ms;		/* since: when it was paused (wall clock of the bulwarkctl host) */
	char		by[CLUSTER_ACTOR_SIZE]; /* by: who paused */
	char		reason[256];	/* reason: free text, "" = none given */
} Maintenance;

/* The steps of a planned switchover (bulwarkctl switchover; docs/sentinel.md "Switchover"). */
typedef enum SwitchoverPhase
{
	SWITCHOVER_PHASE_REQUESTED = 0, /* written by bulwarkctl; the sentinel has not validated it yet */
	SWITCHOVER_PHASE_FENCING,	/* proxies told "no master"; waiting for every live proxy to acknowledge */
	SWITCHOVER_PHASE_DEMOTING,	/* old master told to stop (fast shutdown); waiting for its final LSN */
	SWITCHOVER_PHASE_CATCHING_UP,	/* waiting for the target to replay up to masterLsn */
} SwitchoverPhase;

const char *switchover_phase_to_string(SwitchoverPhase v);
bool switchover_phase_from_string(const char *s, SwitchoverPhase *out) __attribute__((warn_unused_result));

/* A switchover in progress; removed from the cluster data when it completes or aborts. */
typedef struct Switchover
{
	char		event_id[UID_SIZE]; /* eventId: shared by every history entry of this switchover */
	SwitchoverPhase phase;
	char		from_db_uid[UID_SIZE];	/* fromDbUid: the master when requested; it must still be */
	char		target_keeper_uid[UID_SIZE];	/* targetKeeperUid: asked for; "" = the sentinel picks */
	char		target_db_uid[UID_SIZE];	/* targetDbUid: chosen by the sentinel once validated */
	int64_t		requested_ms;	/* requestTime */
	int64_t		timeout_ms;		/* timeout: from the sentinel's start to the promotion; then it aborts */
	uint64_t	master_lsn;		/* masterLsn: the old master's final WAL position (demoting -> catching up) */
	char		by[CLUSTER_ACTOR_SIZE]; /* by */
} Switchover;

typedef struct ClusterStatus
{
	int64_t		current_generation;
	ClusterPhase phase;
	char		master[UID_SIZE];	/* uid of the master DB; "" = none */
	Maintenance *maintenance;	/* NULL = not paused */
	Switchover *switchover;		/* NULL = none in progress */
} ClusterStatus;

typedef struct Cluster
{
	char		uid[UID_SIZE];	/* random, new on every init: reports carrying another clusterUID are ignored */
	int64_t		generation;
	int64_t		change_time_ms;
	json_t	   *spec_sparse;	/* owned: the spec fields the user set, as stored; NULL = none set ({}) */
	ClusterSpec spec;			/* the effective spec decoded from spec_sparse, defaults applied */
	ClusterStatus status;
} Cluster;

/* ---- Keeper ---- */

typedef struct PgBinaryVersion
{
	int			major;			/* 15 for PostgreSQL 15.4 */
	int			minor;			/* 4 */
} PgBinaryVersion;

typedef struct KeeperStatus
{
	bool		healthy;
	int64_t		last_healthy_time_ms;
	char		boot_uuid[UID_SIZE];	/* the keeper process the sentinel last saw (I6) */
	bool		force_fail;		/* mark unhealthy for one round (bulwarkctl failkeeper) */
	bool		can_be_master;
	bool		can_be_synchronous_replica;
	PgBinaryVersion postgres_binary_version;
	char		http_address[CLUSTER_HOST_SIZE + 8];	/* host:port of its HTTP endpoints, "" when unknown */
} KeeperStatus;

typedef struct Keeper
{
	char		uid[UID_SIZE];
	int64_t		generation;
	int64_t		change_time_ms;
	KeeperStatus status;
} Keeper;

/* ---- DB ---- */

typedef struct FollowConfig
{
	FollowType	type;
	char		db_uid[UID_SIZE];	/* internal: the DB followed */
	StandbySettings *standby_settings;	/* external: how to reach the primary */
	ArchiveRecoverySettings *archive_recovery_settings;
} FollowConfig;

/* The desired state of one PostgreSQL instance on one keeper, written by the sentinel. */
typedef struct DbSpec
{
	char		keeper_uid[UID_SIZE];
	int64_t		request_timeout_ms;
	int			max_standbys;
	bool		synchronous_replication;
	bool		use_pg_rewind;
	int			additional_wal_senders;
	StringList	additional_replication_slots;	/* master-type DB only */
	InitMode	init_mode;
	NewConfig  *new_config;
	PitrConfig *pitr_config;
	PgParameters pg_parameters;
	StringList *pg_hba;			/* NULL = default lines */
	DbRole		role;
	FollowConfig *follow_config;	/* NULL for a master */
	StringList	followers;		/* DB uids following this one */
	bool		include_previous_config;
	StringList	synchronous_standbys;	/* DB uids */
	StringList	external_synchronous_standbys;	/* raw application names */
} DbSpec;

typedef struct TimelineHistoryEntry
{
	uint32_t	timeline_id;
	uint64_t	switch_point;	/* LSN where the next timeline branched off */
	char	   *reason;
} TimelineHistoryEntry;

typedef struct TimelinesHistory
{
	TimelineHistoryEntry *items;
	size_t		count;
} TimelinesHistory;

/* timelines_history_init: empty; timelines_history_finish frees the entries and leaves it empty. */
void timelines_history_init(TimelinesHistory *h);
void timelines_history_finish(TimelinesHistory *h);

/* timelines_history_append: appends an entry with a copy of reason (may be NULL); false when out of memory. */
bool timelines_history_append(TimelinesHistory *h, uint32_t timeline_id, uint64_t switch_point, const char *reason)
	__attribute__((warn_unused_result));

/* timelines_history_copy: dst (uninitialized) becomes a deep copy of src; false when out of memory, dst empty. */
bool timelines_history_copy(TimelinesHistory *dst, const TimelinesHistory *src) __attribute__((warn_unused_result));

/* The last known state of a DB, filled by the sentinel from its keeper's report. */
typedef struct DbStatus
{
	bool		healthy;
	int64_t		current_generation;
	char		listen_address[CLUSTER_HOST_SIZE];
	int			port;
	char		system_id[CLUSTER_SYSTEM_ID_SIZE];
	uint32_t	timeline_id;
	uint64_t	xlog_pos;
	TimelinesHistory timelines_history;
	StringList	synchronous_standbys;	/* DB uids known to have been in sync */
	char		older_wal_file[CLUSTER_WAL_FILE_SIZE];
	PgParameters pg_parameters;
} DbStatus;

typedef struct Db
{
	char		uid[UID_SIZE];
	int64_t		generation;
	int64_t		change_time_ms;
	DbSpec		spec;
	DbStatus	status;
} Db;

/* ---- Proxy ---- */

typedef struct ProxySpec
{
	char		master_db_uid[UID_SIZE];	/* read-write target; "" = no master: proxies close RW connections */
	StringList	ro_db_uids;		/* read-only targets chosen by the planner, sorted */
	StringList	enabled_proxies;	/* proxy uids, sorted */
} ProxySpec;

typedef struct Proxy
{
	int64_t		generation;
	int64_t		change_time_ms;
	ProxySpec	spec;
} Proxy;

/* ---- ClusterData ---- */

typedef struct ClusterData
{
	int64_t		format_version; /* CLUSTER_DATA_FORMAT_VERSION */
	int64_t		change_time_ms;
	Cluster		cluster;
	Keeper	  **keepers;		/* owned, sorted by uid, unique */
	size_t		keeper_count;
	Db		  **dbs;			/* owned, sorted by uid, unique */
	size_t		db_count;
	Proxy		proxy;
} ClusterData;

/*
 * cluster_data_init: an empty document (format version 1, no keepers or dbs, spec_sparse NULL and the default
 * spec). cluster_data_finish frees everything it owns and leaves it as after init.
 */
void cluster_data_init(ClusterData *cd);
void cluster_data_finish(ClusterData *cd);

/*
 * cluster_data_copy: dst (uninitialized storage) becomes a deep copy of src, sharing nothing with it, so the
 * planner can copy-then-modify. False when memory runs out; dst is then initialized and empty.
 */
bool cluster_data_copy(ClusterData *dst, const ClusterData *src) __attribute__((warn_unused_result));

/* Lookups: the object with this uid (owned by cd, valid until it is removed), or NULL; a binary search. */
Keeper *cluster_data_find_keeper(const ClusterData *cd, const char *uid);
Db *cluster_data_find_db(const ClusterData *cd, const char *uid);

/* cluster_data_find_db_by_keeper: the DB assigned to keeper_uid (the first in uid order), or NULL. */
Db *cluster_data_find_db_by_keeper(const ClusterData *cd, const char *keeper_uid);

/* cluster_data_master_db: the DB named by cluster.status.master, or NULL when none is set or it is missing. */
Db *cluster_data_master_db(const ClusterData *cd);

/*
 * cluster_data_add_keeper/add_db: a new, initialized object with this uid inserted in uid order (owned by cd).
 * NULL when the uid is invalid (uid_is_valid) or already present, or memory runs out.
 */
Keeper *cluster_data_add_keeper(ClusterData *cd, const char *uid) __attribute__((warn_unused_result));
Db *cluster_data_add_db(ClusterData *cd, const char *uid) __attribute__((warn_unused_result));

/* cluster_data_remove_keeper/remove_db: frees the object; false when no object has this uid. */
bool cluster_data_remove_keeper(ClusterData *cd, const char *uid);
bool cluster_data_remove_db(ClusterData *cd, const char *uid);

/*
 * x_init: an empty object (uid "", generation 0, empty lists; a Keeper with canBeMaster and
 * canBeSynchronousReplica true); x_finish frees what it owns and leaves it as after x_init. x_copy: dst
 * (uninitialized) becomes a deep copy of src; false when out of memory, dst then as after x_init.
 */
void keeper_init(Keeper *k);
void keeper_finish(Keeper *k);
void db_init(Db *db);
void db_finish(Db *db);
void db_spec_init(DbSpec *s);
void db_spec_finish(DbSpec *s);
bool db_spec_copy(DbSpec *dst, const DbSpec *src) __attribute__((warn_unused_result));
void db_status_init(DbStatus *s);
void db_status_finish(DbStatus *s);
bool db_status_copy(DbStatus *dst, const DbStatus *src) __attribute__((warn_unused_result));

/* Optional sub-objects: x_new returns a zeroed object (NULL when out of memory), x_free(NULL) is a no-op,
 * x_dup returns a deep copy (NULL when out of memory, or when src is NULL). */
NewConfig *new_config_new(void);
void new_config_free(NewConfig *c);
NewConfig *new_config_dup(const NewConfig *src);
ArchiveRecoverySettings *archive_recovery_settings_new(void);
void archive_recovery_settings_free(ArchiveRecoverySettings *s);
ArchiveRecoverySettings *archive_recovery_settings_dup(const ArchiveRecoverySettings *src);
RecoveryTargetSettings *recovery_target_settings_new(void);
void recovery_target_settings_free(RecoveryTargetSettings *s);
RecoveryTargetSettings *recovery_target_settings_dup(const RecoveryTargetSettings *src);
StandbySettings *standby_settings_new(void);
void standby_settings_free(StandbySettings *s);
StandbySettings *standby_settings_dup(const StandbySettings *src);
PitrConfig *pitr_config_new(void);
void pitr_config_free(PitrConfig *c);
PitrConfig *pitr_config_dup(const PitrConfig *src);
ExistingConfig *existing_config_new(void);
void existing_config_free(ExistingConfig *c);
ExistingConfig *existing_config_dup(const ExistingConfig *src);
StandbyConfig *standby_config_new(void);
void standby_config_free(StandbyConfig *c);
StandbyConfig *standby_config_dup(const StandbyConfig *src);
Maintenance *maintenance_new(void);
void maintenance_free(Maintenance *m);
Maintenance *maintenance_dup(const Maintenance *src);
Switchover *switchover_new(void);
void switchover_free(Switchover *s);
Switchover *switchover_dup(const Switchover *src);
FollowConfig *follow_config_new(void);
void follow_config_free(FollowConfig *c);
FollowConfig *follow_config_dup(const FollowConfig *src);

/* ---- reports published by the components ---- */

/* The keeper's view of its local PostgreSQL. */
typedef struct PostgresState
{
	char		uid[UID_SIZE];	/* the local DB uid */
	int64_t		generation;		/* the DB generation the keeper last converged to */
	char		listen_address[CLUSTER_HOST_SIZE];	/* the advertised address and port */
	int			port;
	bool		healthy;
	char		system_id[CLUSTER_SYSTEM_ID_SIZE];
	uint32_t	timeline_id;
	uint64_t	xlog_pos;
	TimelinesHistory timelines_history;
	PgParameters pg_parameters; /* from the configuration files, managed names left out */
	StringList	synchronous_standbys;	/* DB uids in sync now, from pg_stat_replication */
	char		older_wal_file[CLUSTER_WAL_FILE_SIZE];
	uint64_t	stopped_lsn;	/* PostgreSQL is stopped after a clean shutdown: its last checkpoint's LSN; else 0 */
} PostgresState;

/* As the optional sub-objects above: new (empty, NULL when out of memory), free (NULL is a no-op), dup. */
PostgresState *postgres_state_new(void);
void postgres_state_free(PostgresState *s);
PostgresState *postgres_state_dup(const PostgresState *src);

#define CLUSTER_KEEPER_STATE_SIZE 32
#define CLUSTER_PROBLEM_SIZE 512

typedef struct KeeperInfo
{
	char		info_uid[UID_SIZE]; /* random per publish: the sentinel's liveness signal */
	char		uid[UID_SIZE];
	char		cluster_uid[UID_SIZE];
	char		boot_uuid[UID_SIZE];	/* random per keeper process start */
	PgBinaryVersion postgres_binary_version;
	PostgresState *postgres_state;	/* NULL when the keeper has no DB yet */
	bool		can_be_master;
	bool		can_be_synchronous_replica;
	char		keeper_state[CLUSTER_KEEPER_STATE_SIZE];	/* the keeper's state machine ("standby", "recovering") */
	char		http_address[CLUSTER_HOST_SIZE + 8];	/* host:port where other keepers and proxies reach it */
	char		problem[CLUSTER_PROBLEM_SIZE];	/* what keeps it from converging, "" when nothing */
} KeeperInfo;

/*
 * keeper_info_init: empty, no postgresState, canBeMaster and canBeSynchronousReplica true; keeper_info_finish
 * frees the postgresState. keeper_info_copy: dst (uninitialized) becomes a deep copy; false when out of memory,
 * dst then as after init.
 */
void keeper_info_init(KeeperInfo *ki);
void keeper_info_finish(KeeperInfo *ki);
bool keeper_info_copy(KeeperInfo *dst, const KeeperInfo *src) __attribute__((warn_unused_result));

typedef struct SentinelInfo
{
	char		info_uid[UID_SIZE];
	char		uid[UID_SIZE];
} SentinelInfo;

typedef struct ProxyInfo
{
	char		info_uid[UID_SIZE];
	char		uid[UID_SIZE];
	int64_t		generation;		/* the Proxy generation this proxy has applied */
	int64_t		proxy_timeout_ms;	/* the proxyTimeout it runs with: the sentinel expires it after twice that */
} ProxyInfo;

#endif
