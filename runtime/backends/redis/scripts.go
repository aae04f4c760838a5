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
//	name at that version),
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
	if string.byte(ARGV[conds + 2 * c], 1) ~= 0 and want > newest then newest = want end
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
	if string.byte(key, 1) == 0 then
		-- The schema: none recorded, or this name at this version. (A lost
		-- attempt of this batch would have recorded this very one, so a
		-- failure is never its own doing.)
		if oldschema then
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

// putCheckpointScript replaces a checkpoint.
//
//	KEYS[1] checkpoint hash, KEYS[2] checkpoint index, KEYS[3] state hash,
//	KEYS[4] checkpoint headers
//	ARGV[1] name, ARGV[2] created (unix ns), ARGV[3] created (unix ms),
//	ARGV[4] revision, ARGV[5] schema JSON ("": none), ARGV[6] TTL in ms,
//	ARGV[7] checkpoint key prefix, ARGV[8] the feed channel, ARGV[9] the
//	namespace, ARGV[10] the checkpoint's header, then (field, value) pairs.
var putCheckpointScript = goredis.NewScript(touchLua + publishLua + `
local cp, index, state, headers = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
redis.call('DEL', cp)
redis.call('HSET', cp, '_name', ARGV[1], '_created', ARGV[2], '_rev', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', cp, '_schema', ARGV[5]) end
-- HSET in slices: unpack of very many values would overflow Lua's stack.
local n = #ARGV
for i = 11, n, 300 do
	redis.call('HSET', cp, unpack(ARGV, i, math.min(i + 299, n)))
end
redis.call('ZADD', index, ARGV[3], ARGV[1])
redis.call('HSET', headers, ARGV[1], ARGV[10])
touch(ARGV[6], state, index, headers, ARGV[7])
publish(ARGV[8], {ns = ARGV[9], rev = tonumber(ARGV[4]), cp = ARGV[1], op = 'created'})
return 1
`)

// deleteCheckpointScript removes a checkpoint; it returns 0 if there was none.
//
//	KEYS[1] checkpoint hash, KEYS[2] checkpoint index, KEYS[3] state hash,
//	KEYS[4] checkpoint headers; ARGV[1] name, ARGV[2] the feed channel,
//	ARGV[3] the namespace
var deleteCheckpointScript = goredis.NewScript(publishLua + `
redis.call('HDEL', KEYS[4], ARGV[1])
local gone = redis.call('DEL', KEYS[1]) + redis.call('ZREM', KEYS[2], ARGV[1])
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
