package postgres

import (
	"strconv"
	"strings"
)

// statements are the backend's SQL, with the schema's tables filled in.
// pgx prepares each on first use on a connection and caches it.
type statements struct {
	get, getWithSchema, snapshot, stamp string
	putOne, lock, apply                 string
	namespaces                          string
	putCheckpoint, dropCheckpointValues string
	copyCheckpoint                      string
	getCheckpoint, checkpoints          string
	deleteCheckpoint, touch             string
	notifyCheckpoint                    string
	dropLock, drop                      string
	labelled                            string
}

// feedLimit bounds a notification's payload below PostgreSQL's 8000 bytes:
// a write whose key lists do not fit is published without them, marked
// big (see package feedmsg).
const feedLimit = "7900"

// Bounds of the applied batch IDs each namespace keeps (see Exactly once
// in the package doc): the IDs of its last appliedKeep revisions, and
// none older than appliedTTL once a write has come by to forget them,
// forgetting at most forgetEach of the oldest per write.
const (
	appliedKeep = 512
	forgetEach  = 8
)

// pageSize is how many rows each page of a keyset-paginated listing holds
// (a variable for the tests, which page through small stores).
var pageSize = 1000

// feedPayload is the SQL of a write's notification (see package feedmsg):
// the keys when they fit, else the write marked big.
func feedPayload(ns, rev, put, del, schema, restores string) string {
	full := "json_build_object('ns', " + ns + ", 'rev', " + rev + ", 'put', " + put + ", 'del', " + del +
		", 'schema', " + schema + ", 'cp', " + restores + ", 'op', CASE WHEN " + restores + " IS NULL THEN NULL ELSE 'restored' END)::text"
	short := "json_build_object('ns', " + ns + ", 'rev', " + rev + ", 'big', true)::text"
	return "CASE WHEN octet_length(" + full + ") > " + feedLimit + " THEN " + short + " ELSE " + full + " END"
}

// runExpired is the SQL condition that run $1 has expired at time now (a
// parameter, in nanoseconds), as runtime.RunInfo.Expired says: its
// reserved key __ttl holds a TTL (a number of nanoseconds; anything else
// is none) and its last write, the newest of its keys', is older than now
// minus that TTL. It reads one key by the primary key, and the run's keys
// only when it has a TTL.
func runExpired(now string) string {
	return `EXISTS (SELECT 1 FROM $entries AS t WHERE t.ns = $1 AND t.key = '__ttl'
		AND ` + now + `::bigint - (SELECT max(updated) FROM $entries WHERE ns = $1) >
			CASE WHEN t.value ~ '^[0-9]{1,18}$' THEN nullif(t.value::bigint, 0) END)`
}

// newStatements are the statements on the tables of schema, of the given
// layout version: a read-only store of layout 1, whose checkpoints have no
// data column, reads all their values from checkpoint_entries.
func newStatements(schema string, layout int) statements {
	cpData := "c.data"
	if layout < 2 {
		cpData = "NULL::text"
	}
	t := func(q string) string {
		return strings.NewReplacer(
			"$cpdata", cpData,
			"$namespaces", ident(schema, "namespaces"),
			"$entries", ident(schema, "entries"),
			"$checkpoint_entries", ident(schema, "checkpoint_entries"),
			"$checkpoints", ident(schema, "checkpoints"),
			"$applied", ident(schema, "applied"),
		).Replace(q)
	}
	return statements{
		// A key of a run that has expired reads as absent.
		//   $1 ns, $2 key, $3 now
		get: t(`SELECT value, revision, updated FROM $entries WHERE ns = $1 AND key = $2 AND NOT ` + runExpired("$3")),

		// One row, whatever exists: the key's columns are NULL when it is
		// absent (or its run expired), the schema's when none is recorded.
		//   $1 ns, $2 key, $3 now
		getWithSchema: t(`SELECT n.schema_name, n.schema_version, e.value, e.revision, e.updated
			FROM (SELECT $1::text AS ns, $2::text AS key) AS q
			LEFT JOIN $namespaces AS n ON n.ns = q.ns
			LEFT JOIN $entries AS e ON e.ns = q.ns AND e.key = q.key AND NOT ` + runExpired("$3")),

		// One statement, so one snapshot: the namespace row repeated on
		// each of its keys (once, with NULL key columns, when it has none).
		snapshot: t(`SELECT n.revision, n.schema_name, n.schema_version, n.schema_info, e.key, e.value, e.revision, e.updated
			FROM $namespaces AS n LEFT JOIN $entries AS e ON e.ns = n.ns
			WHERE n.ns = $1`),

		stamp: t(`SELECT revision, created FROM $namespaces WHERE ns = $1`),

		// A one-key write with no condition, no schema and no ID: the
		// namespace's revision bump (which also locks its row), the key's
		// upsert and its notification in one statement.
		//   $1 ns, $2 now, $3 key, $4 value, $5 the feed channel
		putOne: t(`WITH n AS (
				INSERT INTO $namespaces AS n (ns, revision, created) VALUES ($1, 1, $2)
				ON CONFLICT (ns) DO UPDATE SET revision = n.revision + 1
				RETURNING revision
			), p AS (
				INSERT INTO $entries (ns, key, value, revision, updated)
				SELECT $1::text, $3::text, $4::text, n.revision, $2::bigint FROM n
				ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
				RETURNING revision
			)
			SELECT p.revision FROM p, LATERAL (SELECT pg_notify($5, ` + feedPayload("$1::text", "p.revision", "json_build_array($3::text)", "'[]'::json", "false", "NULL::text") + `)) AS note`),

		// The first statement of a batch: make the namespace's row if it
		// is missing, and lock it without writing it (DO UPDATE ... WHERE
		// false locks the row it finds), so that the next statement's
		// snapshot, taken once the lock is held, sees every earlier write.
		//   $1 ns, $2 now
		lock: t(`INSERT INTO $namespaces AS n (ns, revision, created) VALUES ($1, 0, $2)
			ON CONFLICT (ns) DO UPDATE SET revision = n.revision WHERE false`),

		// The second: the batch itself. Its conditions decide (verdict);
		// only if they hold do the data-modifying CTEs run, each on rows
		// no other touches (the deletes spare the keys put). The last
		// SELECT says what happened.
		//
		//   $1 ns, $2 now, $3 batch ID ('' none), $4 condition keys ('' the
		//   namespace), $5 their revisions, $6 whether IfSchema is set, $7
		//   and $8 its name and version, $9 the schema to record: 0 keep,
		//   1 set to $10 name, $11 version, $12 info, 2 remove; $13
		//   replace, $14 keys to delete, $15 keys to put, $16 their values,
		//   $17 applied IDs older than this (unix ns) may be forgotten, $18
		//   the feed channel, $19 the checkpoint the batch restores ('' none).
		apply: t(`WITH cur AS (
				SELECT revision, schema_name, schema_version, schema_info, ids_from FROM $namespaces WHERE ns = $1
			), prior AS (
				SELECT revision FROM $applied WHERE $3 <> '' AND ns = $1 AND id = $3
			), conds AS (
				SELECT c.i, c.want, CASE
					WHEN c.key <> '' THEN COALESCE((SELECT e.revision FROM $entries AS e WHERE e.ns = $1 AND e.key = c.key), 0)
					WHEN c.want <> 0 OR cur.schema_name IS NOT NULL OR EXISTS (SELECT 1 FROM $entries AS e WHERE e.ns = $1) THEN cur.revision
					ELSE 0 END AS found
				FROM cur, unnest($4::text[], $5::bigint[]) WITH ORDINALITY AS c (key, want, i)
			), failed AS (
				SELECT i, found FROM conds WHERE found <> want ORDER BY i LIMIT 1
			), verdict AS (
				SELECT NOT EXISTS (SELECT 1 FROM prior) AND NOT EXISTS (SELECT 1 FROM failed)
					AND NOT ($6 AND cur.schema_name IS NOT NULL AND (cur.schema_name <> $7 OR cur.schema_version <> $8)) AS ok
				FROM cur
			), forgot AS (
				DELETE FROM $applied AS a WHERE $3 <> '' AND a.ns = $1 AND (SELECT ok FROM verdict)
					AND a.revision IN (SELECT o.revision FROM $applied AS o WHERE o.ns = $1 AND o.revision > COALESCE((SELECT ids_from FROM cur), 0)
						ORDER BY o.revision LIMIT ` + strconv.Itoa(forgetEach) + `)
					AND (a.revision <= (SELECT revision FROM cur) + 1 - ` + strconv.Itoa(appliedKeep) + ` OR a.at < $17)
				RETURNING a.revision
			), bump AS (
				UPDATE $namespaces AS n SET revision = n.revision + 1,
					schema_name = CASE $9::int WHEN 0 THEN n.schema_name WHEN 1 THEN $10 END,
					schema_version = CASE $9::int WHEN 0 THEN n.schema_version WHEN 1 THEN $11 END,
					schema_info = CASE $9::int WHEN 0 THEN n.schema_info WHEN 1 THEN $12 END,
					ids_from = CASE WHEN $3 = '' THEN n.ids_from
						ELSE GREATEST(COALESCE(n.ids_from, n.revision), (SELECT max(revision) FROM forgot)) END
				WHERE n.ns = $1 AND (SELECT ok FROM verdict)
				RETURNING n.revision
			), dels AS (
				DELETE FROM $entries AS e WHERE e.ns = $1 AND EXISTS (SELECT 1 FROM bump)
					AND ($13 AND e.key NOT LIKE '\_\_%' OR e.key = ANY ($14::text[])) AND e.key <> ALL ($15::text[])
				RETURNING e.key
			), note AS (
				SELECT pg_notify($18, ` + feedPayload("$1::text", "bump.revision",
			"to_json($15::text[])", "(SELECT COALESCE(json_agg(key ORDER BY key), '[]') FROM dels)",
			"CASE $9::int WHEN 0 THEN false WHEN 2 THEN cur.schema_name IS NOT NULL "+
				"ELSE (cur.schema_name, cur.schema_version, cur.schema_info) IS DISTINCT FROM ($10::text, $11::int, $12::text) END",
			"NULLIF($19::text, '')") + `)
				FROM bump, cur
			), puts AS (
				INSERT INTO $entries (ns, key, value, revision, updated)
				SELECT $1::text, p.key, p.value, bump.revision, $2::bigint FROM bump, unnest($15::text[], $16::text[]) AS p (key, value)
				ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, revision = excluded.revision, updated = excluded.updated
			), ids AS (
				INSERT INTO $applied (ns, id, revision, at) SELECT $1::text, $3::text, bump.revision, $2::bigint FROM bump WHERE $3 <> ''
			)
			SELECT (SELECT revision FROM bump), (SELECT revision FROM prior), (SELECT i FROM failed), (SELECT found FROM failed),
				cur.revision, cur.ids_from, cur.schema_version
			FROM cur, (SELECT count(*) AS notified FROM note) AS n -- an inner join, which the planner keeps, so that note runs
			`),

		// One page of the namespaces that hold a key, a schema or a
		// checkpoint, after $1, in key order.
		namespaces: t(`SELECT n.ns FROM $namespaces AS n
			WHERE n.ns > $1 AND (n.schema_name IS NOT NULL
				OR EXISTS (SELECT 1 FROM $entries AS e WHERE e.ns = n.ns)
				OR EXISTS (SELECT 1 FROM $checkpoints AS c WHERE c.ns = n.ns))
			ORDER BY n.ns LIMIT ` + strconv.Itoa(pageSize)),

		// The statements of PutCheckpoint, one pipeline: the namespace
		// row (so that a namespace of checkpoints only is listed), the
		// checkpoint's row with its values, whose upsert locks it against
		// a concurrent writer of the same name, then the values a layout 1
		// checkpoint of that name kept in checkpoint_entries.
		//   $1 ns, $2 name, $3 created, $4 revision, $5-$7 schema, $8 keys,
		//   $9 data
		putCheckpoint: t(`INSERT INTO $checkpoints AS c (ns, name, created, revision, schema_name, schema_version, schema_info, keys, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (ns, name) DO UPDATE SET created = excluded.created, revision = excluded.revision,
				schema_name = excluded.schema_name, schema_version = excluded.schema_version,
				schema_info = excluded.schema_info, keys = excluded.keys, data = excluded.data`),
		dropCheckpointValues: t(`DELETE FROM $checkpoint_entries WHERE ns = $1 AND name = $2`),

		touch: t(`INSERT INTO $namespaces (ns, revision, created) VALUES ($1, 0, $2) ON CONFLICT (ns) DO NOTHING`),

		// CopyCheckpoint's one statement (one snapshot, one round trip):
		// the run's head (its revision, schema, number of keys of the
		// user's, and from its reserved keys its TTL, last restore and last
		// write), if it exists and has not expired, as Snapshot and
		// RunInfo.Expired say; the checkpoint's row from it, whose
		// schema_info also records the labels and the last restore, and
		// whose data holds its values, those of the entries but the
		// reserved keys, gathered without leaving the server (through a
		// cast to json, which keeps their text exactly and fails the
		// statement, 22P02, on a damaged one); the values a layout 1
		// checkpoint of that name kept in checkpoint_entries, removed; the
		// checkpoints the retention policy does not keep, removed
		// (Retention.Doomed, the new one counted as the newest); and the
		// notifications of all of it.
		//   $1 ns, $2 name, $3 created, $4 labels (JSON, or NULL),
		//   $5 keep the last N (0: no such rule), $6 keep those younger
		//   than (nanoseconds, 0: no such rule), $7 the feed channel
		copyCheckpoint: t(`WITH head AS (
				SELECT n.revision, n.schema_name, n.schema_version, n.schema_info, r.keys, r.restored
				FROM $namespaces AS n, LATERAL (
					SELECT count(*) FILTER (WHERE e.key NOT LIKE '\_\_%') AS keys,
						max(e.value) FILTER (WHERE e.key = '__restored') AS restored
					FROM $entries AS e WHERE e.ns = $1) AS r
				WHERE n.ns = $1 AND (n.schema_name IS NOT NULL OR r.keys > 0) AND NOT ` + runExpired("$3") + `
			), src AS (
				SELECT coalesce(json_object_agg(key, json_build_array(value::json, revision, updated))::text, '{}') AS data
				FROM $entries WHERE ns = $1 AND key NOT LIKE '\_\_%' AND EXISTS (SELECT 1 FROM head)
			), cp AS (
				INSERT INTO $checkpoints AS c (ns, name, created, revision, schema_name, schema_version, schema_info, keys, data)
				SELECT $1, $2, $3, revision, schema_name, schema_version,
					nullif(coalesce(schema_info::jsonb, '{}') || jsonb_strip_nulls(jsonb_build_object('labels', $4::jsonb, 'restored', restored::jsonb)), '{}')::text,
					keys, src.data FROM head, src
				ON CONFLICT (ns, name) DO UPDATE SET created = excluded.created, revision = excluded.revision,
					schema_name = excluded.schema_name, schema_version = excluded.schema_version,
					schema_info = excluded.schema_info, keys = excluded.keys, data = excluded.data
				RETURNING revision, schema_name, schema_version, schema_info, keys
			), stale AS (
				DELETE FROM $checkpoint_entries AS e WHERE e.ns = $1 AND e.name = $2 AND EXISTS (SELECT 1 FROM cp)
			), kept AS (
				SELECT name FROM $checkpoints WHERE ns = $1 AND name <> $2
				ORDER BY created DESC, name DESC LIMIT greatest($5::int - 1, 0)
			), doomed AS (
				DELETE FROM $checkpoints AS d WHERE d.ns = $1 AND d.name <> $2 AND ($5::int > 0 OR $6::bigint > 0)
					AND EXISTS (SELECT 1 FROM cp)
					AND NOT ($5::int > 0 AND d.name IN (SELECT name FROM kept))
					AND NOT ($6::bigint > 0 AND $3::bigint - d.created < $6::bigint)
				RETURNING d.name
			), doomed_values AS (
				DELETE FROM $checkpoint_entries AS e USING doomed WHERE e.ns = $1 AND e.name = doomed.name
			)
			SELECT cp.revision, cp.schema_name, cp.schema_version, cp.schema_info, cp.keys,
				pg_notify($7, json_build_object('ns', $1::text, 'rev', cp.revision, 'cp', $2::text, 'op', 'created')::text),
				(SELECT count(pg_notify($7, json_build_object('ns', $1::text, 'rev', cp.revision, 'cp', doomed.name, 'op', 'deleted')::text)) FROM doomed)
			FROM cp`),

		// A checkpoint's row; a layout 1 checkpoint's (data NULL) once
		// per value in checkpoint_entries.
		getCheckpoint: t(`SELECT c.created, c.revision, c.schema_name, c.schema_version, c.schema_info, c.keys, $cpdata,
				e.key, e.value, e.revision, e.updated
			FROM $checkpoints AS c LEFT JOIN $checkpoint_entries AS e ON $cpdata IS NULL AND e.ns = c.ns AND e.name = c.name
			WHERE c.ns = $1 AND c.name = $2`),

		// One page of a namespace's checkpoints after ($2, $3), by time.
		checkpoints: t(`SELECT name, created, revision, schema_name, schema_version, schema_info, keys
			FROM $checkpoints WHERE ns = $1 AND (created, name) > ($2, $3)
			ORDER BY created, name LIMIT ` + strconv.Itoa(pageSize)),

		// A page of the namespaces carrying a label, from entries_labels.
		//   $1 key, $2 value, $3 after, $4 limit
		labelled: t(`SELECT ns FROM $entries WHERE ` + strings.ReplaceAll(labelRows, "%%", "%") + ` AND key = $1 AND value = $2 AND ns > $3
			ORDER BY ns LIMIT $4`),

		// Drop's statements: the namespace's row goes first, locked as
		// every write locks it, saying whether the namespace held
		// anything and at which revision; then everything else of it.
		dropLock: t(`DELETE FROM $namespaces AS n WHERE n.ns = $1
			RETURNING n.schema_name IS NOT NULL
				OR EXISTS (SELECT 1 FROM $entries AS e WHERE e.ns = n.ns)
				OR EXISTS (SELECT 1 FROM $checkpoints AS c WHERE c.ns = n.ns), n.revision`),
		drop: t(`WITH e AS (DELETE FROM $entries WHERE ns = $1),
				c AS (DELETE FROM $checkpoints WHERE ns = $1),
				ce AS (DELETE FROM $checkpoint_entries WHERE ns = $1)
			DELETE FROM $applied WHERE ns = $1`),

		//   $1 ns, $2 name, $3 the feed channel
		deleteCheckpoint: t(`WITH cp AS (
				DELETE FROM $checkpoints WHERE ns = $1 AND name = $2 RETURNING name
			), vals AS (
				DELETE FROM $checkpoint_entries WHERE ns = $1 AND name = $2 AND EXISTS (SELECT 1 FROM cp)
			)
			SELECT count(*) FROM cp, LATERAL (SELECT pg_notify($3, json_build_object('ns', $1::text,
				'rev', (SELECT revision FROM $namespaces WHERE ns = $1), 'cp', $2::text, 'op', 'deleted')::text)) AS note`),

		// The last statement of PutCheckpoint's pipeline: its notification.
		//   $1 the feed channel, $2 ns, $3 revision, $4 name
		notifyCheckpoint: `SELECT pg_notify($1, json_build_object('ns', $2::text, 'rev', $3::bigint, 'cp', $4::text, 'op', 'created')::text)`,
	}
}
