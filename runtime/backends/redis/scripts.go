package redis

import goredis "github.com/redis/go-redis/v9"

// The writes are Lua scripts: Redis runs a script atomically, so a batch, its
// conditions and its revision bump happen in one step that no other client
// sees half done and that a killed writer cannot cut. All keys a script
// touches share the namespace's hash tag, hence one cluster slot. Key names
// are built by concatenation only, never as a pattern.

// touchLua sets the TTL on every key of a namespace when one is configured:
// the state hash, the checkpoint index, the checkpoint headers and each
// checkpoint the index lists.
const touchLua = `
local function touch(ttl, state, index, headers, cpprefix)
	if ttl == '0' then return end
	redis.call('PEXPIRE', state, ttl)
	redis.call('PEXPIRE', index, ttl)
	redis.call('PEXPIRE', headers, ttl)
	for _, name in ipairs(redis.call('ZRANGE', index, 0, -1)) do
		redis.call('PEXPIRE', cpprefix .. name, ttl)
	end
end
`

// publishLua publishes a change on the store's feed channel (see Feed in
// the package doc): msg is a table of ns, rev and, where they apply, put
// and del (arrays of keys), schema (true), cp and op (a checkpoint and what
// happened to it). Empty arrays are left out, as cjson would write {}.
// A user whose ACL does not allow the channel (Redis 7 users get no
// channel by default) still writes: the write matters more than its
// message, whose absence a feed reports as a gap at the namespace's next
// published write.
const publishLua = `
local function publish(channel, msg)
	if msg.put and #msg.put == 0 then msg.put = nil end
	if msg.del and #msg.del == 0 then msg.del = nil end
	redis.pcall('PUBLISH', channel, cjson.encode(msg))
end
`

// corruptLua is the check every write script makes of the namespace's
// revision cur (its _rev field, false if none) before it writes anything:
// a Lua script that fails half way keeps its first writes, and counting
// on from a damaged _rev would store nonsense. The error reply's code,
// STATEGEN_CORRUPT, becomes runtime.ErrCorrupt.
const corruptLua = `
local function revision(cur)
	if cur and not string.match(cur, '^%d+$') then
		return nil, redis.error_reply('STATEGEN_CORRUPT namespace revision _rev is not a number: ' .. string.sub(cur, 1, 40))
	end
	return tonumber(cur or '0')
end
`

// applyScript performs a Batch.
//
//	KEYS[1] state hash, KEYS[2] checkpoint index, KEYS[3] applied batch IDs,
//	KEYS[4] checkpoint headers
//	ARGV[1] now (unix ns), ARGV[2] TTL in ms ("0": none), ARGV[3] checkpoint key prefix,
//	ARGV[4] "1" to replace, ARGV[5] schema JSON ("": keep, "-": remove),
//	ARGV[6] batch ID ("": none), ARGV[7] "1" on a retry after a lost reply,
//	ARGV[8] how many batch IDs to remember, ARGV[9] for how long (ms),
//	ARGV[10] the feed channel, ARGV[11] the namespace, ARGV[12] the
//	checkpoint the batch restores ("": none), then a count and that many (key, revision) conditions (key "": the namespace;
//	a key of a NUL byte and a name: the recorded schema must be none or that
//	name at that version; byte 1 instead of the NUL: the same, and ARGV[5]
//	records that name at that version),
//	a count and that many keys to delete, a count and that many (key, value) puts.
//
// It returns {"ok", revision}; when condition number i fails,
// {"conflict", i, found revision}, or, on a retry that cannot rule out that
// an earlier attempt applied the batch, {"unknown", i, found revision,
// revision up to which batch IDs may be forgotten}.
var applyScript = goredis.NewScript(touchLua + corruptLua + publishLua + `
local state, index, applied, headers = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, ttl, cpprefix, replace, schema, batch, retry = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5], ARGV[6], ARGV[7] == '1'
local keep, keepslack, idttl = tonumber(ARGV[8]), 64, ARGV[9]
local channel, ns, restores = ARGV[10], ARGV[11], ARGV[12]
local i = 13

-- The bookkeeping, read at once: each redis.call costs more than the
-- work most of them do.
local book = redis.call('HMGET', state, '_rev', '_created', '_schema')
local current, bad = revision(book[1])
if bad then return bad end
local oldschema = book[3]

-- A retry of a batch already applied (its reply was lost) returns that
-- write's revision rather than applying it again.
if batch ~= '' then
	local r = redis.call('ZSCORE', applied, batch)
	if r then return {'ok', tonumber(r)} end
end

local nconds = tonumber(ARGV[i]); i = i + 1
local conds, newest = i, 0
for c = 0, nconds - 1 do
	local want = tonumber(ARGV[conds + 2 * c + 1])
	local tag = string.byte(ARGV[conds + 2 * c], 1) -- nil for the namespace
	if (tag == nil or tag > 1) and want > newest then newest = want end
end
i = i + 2 * nconds

-- A failed condition. On a retry it is a plain conflict only if the batch
-- surely was not applied: its ID is not among those remembered, and every
-- ID applied after the conditions' revisions (the batch could only have
-- landed after them) still is. The member '' holds the revision up to which
-- IDs may be forgotten; without the set (never made, or expired) any ID
-- applied before the current revision may be.
local function conflict(c, found)
	if retry then
		local floor = redis.call('ZSCORE', applied, '')
		floor = floor and tonumber(floor) or current
		if floor > newest then return {'unknown', c, found, floor} end
	end
	return {'conflict', c, found}
end

for c = 1, nconds do
	local key, want = ARGV[conds + 2 * c - 2], tonumber(ARGV[conds + 2 * c - 1])
	local tag = string.byte(key, 1)
	if tag == 0 or tag == 1 then
		-- The schema: none recorded, or this name at this version. (A lost
		-- attempt of this batch would have recorded this very one, so a
		-- failure is never its own doing.) Tag 1 says the batch records
		-- that very schema too: a record equal to the one it writes holds
		-- it, without decoding.
		if oldschema and not (tag == 1 and oldschema == schema) then
			local s = cjson.decode(oldschema)
			if s.name ~= string.sub(key, 2) or s.version ~= want then return {'conflict', c, s.version or -1} end
		end
	elseif key == '' then
		if want == 0 then
			-- The namespace must not exist: it holds no key and no schema,
			-- only (maybe) the bookkeeping that outlives its last key.
			local book = redis.call('HEXISTS', state, '_rev') + redis.call('HEXISTS', state, '_created')
			if redis.call('HLEN', state) > book then return conflict(c, current) end
		elseif current ~= want then
			return conflict(c, current)
		end
	else
		local have = 0
		local r = redis.call('HGET', state, 'r:' .. key)
		if redis.call('HEXISTS', state, 'v:' .. key) == 1 then
			if not (r and string.match(r, '^%d+$')) then
				return redis.error_reply('STATEGEN_CORRUPT revision of key ' .. key .. ' is not a number')
			end
			have = tonumber(r)
		end
		if have ~= want then return conflict(c, have) end
	end
end

local rev = current + 1
local r = string.format('%d', rev)
-- The fields to set, in one HSET after the deletes.
local set = {'_rev', r}
if not book[2] then set[#set + 1], set[#set + 2] = '_created', now end

local ndels = tonumber(ARGV[i]); i = i + 1
local dels = i
i = i + ndels
local nputs = tonumber(ARGV[i]); i = i + 1
local puts = i

-- What the feed reports: the keys put, and the keys that were there and
-- are gone (a key deleted and put again in one batch is put).
local putset, gone = {}, {}
for p = 0, nputs - 1 do putset[ARGV[puts + 2 * p]] = true end
if replace then
	for _, f in ipairs(redis.call('HKEYS', state)) do
		if string.sub(f, 1, 2) == 'v:' then
			local key = string.sub(f, 3)
			if not putset[key] and string.sub(key, 1, 2) ~= '__' then
				redis.call('HDEL', state, f, 'r:' .. key, 't:' .. key)
				gone[key] = true
			end
		end
	end
end
for d = dels, dels + ndels - 1 do
	local key = ARGV[d]
	if redis.call('HDEL', state, 'v:' .. key, 'r:' .. key, 't:' .. key) > 0 and not putset[key] then gone[key] = true end
end
for p = 0, nputs - 1 do
	local key, n = ARGV[puts + 2 * p], #set
	set[n + 1], set[n + 2], set[n + 3], set[n + 4], set[n + 5], set[n + 6] =
		'v:' .. key, ARGV[puts + 2 * p + 1], 'r:' .. key, r, 't:' .. key, now
end
local schemachanged = false
if schema == '-' then
	redis.call('HDEL', state, '_schema')
	schemachanged = oldschema ~= false
elseif schema ~= '' then
	set[#set + 1], set[#set + 2] = '_schema', schema
	schemachanged = oldschema ~= schema
end
-- HSET in slices: unpack of very many values would overflow Lua's stack.
for j = 1, #set, 300 do
	redis.call('HSET', state, unpack(set, j, math.min(j + 299, #set)))
end
touch(ttl, state, index, headers, cpprefix)

local msg = {ns = ns, rev = rev, put = {}, del = {}}
for key in pairs(putset) do table.insert(msg.put, key) end
for key in pairs(gone) do table.insert(msg.del, key) end
if schemachanged then msg.schema = true end
if restores ~= '' then msg.cp, msg.op = restores, 'restored' end
publish(channel, msg)

-- Remember the batch's ID with its revision. A new set starts with the
-- floor '' at the revision before this write: IDs applied before it are
-- unknown (NX leaves the floor of an existing set alone, and the ID is
-- new: it was not found above). Past keep + keepslack IDs the oldest
-- are forgotten, down to keep, and the floor rises to the newest of them:
-- trimming in bulk spares most writes its three calls.
if batch ~= '' then
	redis.call('ZADD', applied, 'NX', current, '', rev, batch)
	local n = redis.call('ZCARD', applied)
	if n > keep + keepslack + 1 then
		local old = redis.call('ZRANGE', applied, 0, n - keep - 1, 'WITHSCORES')
		local floor, gone = 0, {}
		for j = 1, #old, 2 do
			if old[j] ~= '' then
				gone[#gone + 1] = old[j]
				floor = math.max(floor, tonumber(old[j + 1]))
			end
		end
		redis.call('ZREM', applied, unpack(gone))
		redis.call('ZADD', applied, floor, '')
	end
	local exp = idttl
	if ttl ~= '0' and tonumber(ttl) < tonumber(idttl) then exp = ttl end
	redis.call('PEXPIRE', applied, exp)
end
return {'ok', rev}
`)

// putOneScript is applyScript for the common case, one key written with no
// condition, no schema and no TTL, in four calls instead of a dozen: a
// save is then little more than the HSET it stands for.
//
//	KEYS[1] state hash; ARGV[1] now (unix ns), ARGV[2] key, ARGV[3] value,
//	ARGV[4] the feed channel, ARGV[5] the namespace
var putOneScript = goredis.NewScript(publishLua + `
local rev = redis.pcall('HINCRBY', KEYS[1], '_rev', 1)
if type(rev) == 'table' then
	-- HINCRBY wrote nothing: _rev is not an integer.
	return redis.error_reply('STATEGEN_CORRUPT namespace revision _rev is not a number')
end
redis.call('HSETNX', KEYS[1], '_created', ARGV[1])
redis.call('HSET', KEYS[1], 'v:' .. ARGV[2], ARGV[3], 'r:' .. ARGV[2], rev, 't:' .. ARGV[2], ARGV[1])
publish(ARGV[4], {ns = ARGV[5], rev = rev, put = {ARGV[2]}})
return rev
`)

// checkpointLua writes and removes checkpoints, the one encoding of a
// checkpoint's keys that PutCheckpoint and CopyCheckpoint share (see Layout
// in the package doc). writecp replaces checkpoint name, whose hash is cp,
// with its bookkeeping (rev, created in unix ns and ms, schema and meta
// JSON, "" if none), its index entry and its header, for a checkpoint of
// nkeys keys; the caller then adds its values (hsetall). dropcp removes a
// checkpoint, its index entry and its header, and returns how many of its
// hash and index entry there were.
const checkpointLua = `
local function hsetall(key, fields, from)
	-- HSET in slices: unpack of very many values would overflow Lua's stack.
	local n = #fields
	for i = from, n, 300 do
		redis.call('HSET', key, unpack(fields, i, math.min(i + 299, n)))
	end
end

local function writecp(cp, index, headers, name, created, createdms, rev, schema, meta, nkeys)
	redis.call('DEL', cp)
	local book = {'_name', name, '_created', created, '_rev', rev}
	if schema ~= '' then book[#book + 1], book[#book + 2] = '_schema', schema end
	if meta ~= '' then book[#book + 1], book[#book + 2] = '_meta', meta end
	redis.call('HSET', cp, unpack(book))
	redis.call('ZADD', index, createdms, name)
	redis.call('HSET', headers, name, rev .. ':' .. created .. ':' .. nkeys .. ':' .. schema .. '\n' .. meta)
end

local function dropcp(cp, index, headers, name)
	redis.call('HDEL', headers, name)
	return redis.call('DEL', cp) + redis.call('ZREM', index, name)
end
`

// putCheckpointScript replaces a checkpoint.
//
//	KEYS[1] checkpoint hash, KEYS[2] checkpoint index, KEYS[3] state hash,
//	KEYS[4] checkpoint headers
//	ARGV[1] name, ARGV[2] created (unix ns), ARGV[3] created (unix ms),
//	ARGV[4] revision, ARGV[5] schema JSON ("": none), ARGV[6] TTL in ms,
//	ARGV[7] checkpoint key prefix, ARGV[8] the feed channel, ARGV[9] the
//	namespace, ARGV[10] meta JSON ("": none), ARGV[11] how many keys,
//	then (field, value) pairs.
var putCheckpointScript = goredis.NewScript(touchLua + publishLua + checkpointLua + `
local cp, index, state, headers = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
writecp(cp, index, headers, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[10], ARGV[11])
hsetall(cp, ARGV, 12)
touch(ARGV[6], state, index, headers, ARGV[7])
publish(ARGV[8], {ns = ARGV[9], rev = tonumber(ARGV[4]), cp = ARGV[1], op = 'created'})
return 1
`)

// deleteCheckpointScript removes a checkpoint; it returns 0 if there was none.
//
//	KEYS[1] checkpoint hash, KEYS[2] checkpoint index, KEYS[3] state hash,
//	KEYS[4] checkpoint headers; ARGV[1] name, ARGV[2] the feed channel,
//	ARGV[3] the namespace
var deleteCheckpointScript = goredis.NewScript(publishLua + checkpointLua + `
local gone = dropcp(KEYS[1], KEYS[2], KEYS[4], ARGV[1])
if gone > 0 then
	local rev = tonumber(redis.call('HGET', KEYS[3], '_rev') or '0')
	publish(ARGV[2], {ns = ARGV[3], rev = rev, cp = ARGV[1], op = 'deleted'})
end
return gone
`)

// listCheckpointsScript reads what a listing needs in one call: the
// checkpoint index with its scores and the header hash, as two arrays of
// alternating names and values. It writes nothing.
//
//	KEYS[1] checkpoint index, KEYS[2] checkpoint headers
var listCheckpointsScript = goredis.NewScript(`
return {redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[2])}
`)

// exactLua does exact arithmetic on the integers in decimal strings that
// times are stored as: Lua's numbers are doubles, exact to 2^53 only, and
// unix nanoseconds pass 2^60. big(s) splits an integer s (optional sign,
// digits) into {hi, lo}, s = hi * 1e9 + lo with 0 <= lo < 1e9, each part
// exact; before, plus and millis compare, add and floor such pairs.
const exactLua = `
local function big(s)
	local sign, digits = string.match(s, '^([+-]?)0*(%d*)$')
	local lo = tonumber(string.sub(digits, -9)) or 0
	local hi = tonumber(string.sub(digits, 1, -10)) or 0
	if sign ~= '-' then return {hi, lo} end
	if lo > 0 then return {-hi - 1, 1e9 - lo} end
	return {-hi, 0}
end

local function before(a, b)
	return a[1] < b[1] or a[1] == b[1] and a[2] < b[2]
end

local function plus(a, b)
	local hi, lo = a[1] + b[1], a[2] + b[2]
	if lo >= 1e9 then return {hi + 1, lo - 1e9} end
	return {hi, lo}
end

local function millis(a)
	return a[1] * 1000 + math.floor(a[2] / 1e6)
end
`

// copyCheckpointScript copies the namespace into checkpoint NAME, then
// removes the checkpoints the retention policy does not keep, the new one
// counted as the newest (runtime.Retention.Doomed). It judges the run
// before it writes anything: one with neither a key of the user's nor a
// schema, or idle longer than its TTL at the checkpoint's creation (its
// reserved key __ttl, in nanoseconds, against the newest of its keys' t:
// fields), is not found; damage that Snapshot would refuse (a value that
// is not JSON, a revision or time that is not a number, a schema that is
// not JSON) is STATEGEN_CORRUPT. A checkpoint whose bookkeeping cannot be
// read is neither removed nor counted, as Prune does.
//
//	KEYS[1] state hash, KEYS[2] checkpoint hash, KEYS[3] checkpoint index,
//	KEYS[4] checkpoint headers
//	ARGV[1] name, ARGV[2] created (unix ns), ARGV[3] created (unix ms),
//	ARGV[4] meta JSON of the labels ("": none), ARGV[5] TTL in ms,
//	ARGV[6] checkpoint key prefix, ARGV[7] the feed channel, ARGV[8] the
//	namespace, ARGV[9] how many of the newest checkpoints to keep (0: no
//	such rule), ARGV[10] unix ns after which a checkpoint is young enough
//	to keep ("": no such rule)
//
// It returns {"ok", revision, keys, schema JSON, meta JSON, checkpoints
// removed} (JSON "" if none), or {"notfound"}.
var copyCheckpointScript = goredis.NewScript(touchLua + corruptLua + publishLua + checkpointLua + exactLua + `
local state, cp, index, headers = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local name, created, createdms, meta = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, cpprefix, channel, ns = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local keeplast, cutoff = tonumber(ARGV[9]), ARGV[10]

local function corrupt(what)
	return redis.error_reply('STATEGEN_CORRUPT namespace ' .. ns .. ' ' .. what)
end
local function integer(s)
	return s and string.match(s, '^[+-]?%d+$') ~= nil
end
local function null(v) return v == nil or v == cjson.null end
local function empty(v) return null(v) or type(v) == 'table' and next(v) == nil end
-- json reports whether s is JSON. cjson refuses an escaped lone
-- surrogate, which Go's encoding/json (whose reading the Store's is)
-- accepts: a refused text is tried again with every \\uXXXX escape made
-- a plain letter's.
local function json(s)
	local ok, v = pcall(cjson.decode, s)
	if ok then return true, v end
	if not string.find(s, '\\u', 1, true) then return false end
	local plain = string.gsub(s, '\\(.)(%x?%x?%x?%x?)', function(c, hex)
		if c == 'u' and #hex == 4 then return '\\u0041' end
	end)
	ok, v = pcall(cjson.decode, plain)
	return ok, v
end
-- object reports whether s is JSON that Go decodes into a struct.
local function object(s)
	local ok, v = json(s)
	return ok and (type(v) == 'table' or v == cjson.null), v
end

-- The whole state hash, judged before anything is written: a script that
-- fails half way keeps its first writes.
local all = redis.call('HGETALL', state)
local fields = {}
for i = 1, #all, 2 do fields[all[i]] = all[i + 1] end
local rev, bad = revision(fields._rev)
if bad then return bad end
if fields._created and not integer(fields._created) then return corrupt('creation time is not a number') end
local schema = fields._schema or ''
if schema ~= '' then
	local ok, s = object(schema)
	if not ok then return corrupt('schema is not a JSON object') end
	if s == cjson.null or (null(s.name) or s.name == '') and (null(s.version) or s.version == 0) and empty(s.keys) and empty(s.secret) then
		schema = '' -- the zero schema, which PutCheckpoint leaves out
	end
end

local values, nkeys, last, restored, runttl = {}, 0, nil, nil, nil
for i = 1, #all, 2 do
	local f = all[i]
	if string.sub(f, 1, 2) == 'v:' then
		local key, v = string.sub(f, 3), all[i + 1]
		local r, t = fields['r:' .. key], fields['t:' .. key] or '0'
		if not json(v) then return corrupt('key ' .. key .. ': stored value is not valid JSON') end
		if not integer(r) then return corrupt('key ' .. key .. ': revision is not a number') end
		if not integer(t) then return corrupt('key ' .. key .. ': timestamp is not a number') end
		local at = big(t)
		if (at[1] ~= 0 or at[2] ~= 0) and (not last or before(last, at)) then last = at end
		if string.sub(key, 1, 2) ~= '__' then
			nkeys = nkeys + 1
			local n = #values
			values[n + 1], values[n + 2], values[n + 3], values[n + 4], values[n + 5], values[n + 6] =
				f, v, 'r:' .. key, r, 't:' .. key, t
		elseif key == '__restored' then
			restored = v
		elseif key == '__ttl' then
			runttl = v
		end
	end
end

if nkeys == 0 and schema == '' then return {'notfound'} end
-- Expired (runtime.RunInfo.Expired): __ttl holds a positive int64 as JSON
-- (anything else is no TTL) and the last write plus it is before now.
if runttl and last then
	local d = string.match(runttl, '^[ \t\r\n]*(%d+)[ \t\r\n]*$')
	if d and string.sub(d, 1, 1) ~= '0' and (#d < 19 or #d == 19 and d <= '9223372036854775807') then
		if before(plus(last, big(d)), big(created)) then return {'notfound'} end
	end
end

-- The run's lineage (runtime.Snapshot.RunInfo's Restored): recorded when
-- __restored is a CheckpointRef naming a run, in its canonical JSON.
if restored then
	local ok, ref = object(restored)
	if ok and type(ref) == 'table' and type(ref.namespace) == 'string' and ref.namespace ~= '' and
		(null(ref.checkpoint) or type(ref.checkpoint) == 'string') then
		local cpname = ref.checkpoint
		if null(cpname) then cpname = '' end
		local js = '"restored":{"namespace":' .. cjson.encode(ref.namespace) .. ',"checkpoint":' .. cjson.encode(cpname) .. '}}'
		if meta == '' then meta = '{' .. js else meta = string.sub(meta, 1, -2) .. ',' .. js end
	end
end

local r = string.format('%d', rev)
writecp(cp, index, headers, name, created, createdms, r, schema, meta, nkeys)
hsetall(cp, values, 1)

-- Retention: the others, oldest first (by creation, then name), as a
-- listing reads them: from the header, or from the hash for one with no
-- header or a header older than its index entry. One that cannot be read
-- is skipped (kept), one listed but gone too.
local doomed = {}
if keeplast > 0 or cutoff ~= '' then
	local heads = {}
	local h = redis.call('HGETALL', headers)
	for i = 1, #h, 2 do heads[h[i]] = h[i + 1] end
	local function readable(rv, at, sc, mt)
		return integer(rv) and integer(at) and (not sc or sc == '' or object(sc)) and (not mt or mt == '' or object(mt))
	end
	local others = {}
	local idx = redis.call('ZRANGE', index, 0, -1, 'WITHSCORES')
	for i = 1, #idx, 2 do
		local other, score = idx[i], idx[i + 1]
		if other ~= name then
			local at, old = nil, true
			local head = heads[other]
			if head then
				local rv, c, n, sc, mt = string.match(head, '^([^:]*):([^:]*):([^:]*):([^\n]*)\n(.*)$')
				if rv then
					if integer(n) and readable(rv, c, sc, mt) then
						at = big(c)
						old = millis(at) ~= tonumber(score)
					else
						old = false
					end
				else
					old = false
				end
			end
			if old then
				at = nil
				local b = redis.call('HMGET', cpprefix .. other, '_rev', '_created', '_schema', '_name', '_meta')
				if b[1] or b[2] or b[3] or b[4] or b[5] then
					if readable(b[1] or '0', b[2] or '0', b[3], b[5]) then at = big(b[2] or '0') end
				end
			end
			if at then others[#others + 1] = {other, at} end
		end
	end
	table.sort(others, function(a, b)
		if a[2][1] ~= b[2][1] or a[2][2] ~= b[2][2] then return before(a[2], b[2]) end
		return a[1] < b[1]
	end)
	local young = cutoff ~= '' and big(cutoff)
	local n = #others + 1 -- the new one, the newest
	for i, o in ipairs(others) do
		local kept = keeplast > 0 and i > n - keeplast or young and before(young, o[2])
		if not kept then
			dropcp(cpprefix .. o[1], index, headers, o[1])
			doomed[#doomed + 1] = o[1]
		end
	end
end

touch(ttl, state, index, headers, cpprefix)
publish(channel, {ns = ns, rev = rev, cp = name, op = 'created'})
for _, d in ipairs(doomed) do
	publish(channel, {ns = ns, rev = rev, cp = d, op = 'deleted'})
end
return {'ok', rev, nkeys, schema, meta, #doomed}
`)
