package redis

import goredis "github.com/redis/go-redis/v9"

// The writes are Lua scripts: Redis runs a script atomically, so a batch, its
// conditions and its revision bump happen in one step that no other client
// sees half done and that a killed writer cannot cut. All keys a script
// touches share the namespace's hash tag, hence one cluster slot. Key names
// are built by concatenation only, never as a pattern.

// touchLua sets the TTL on every key of a namespace when one is configured:
// the state hash, the checkpoint index and each checkpoint it lists.
const touchLua = `
local function touch(ttl, state, index, cpprefix)
	if ttl == '0' then return end
	redis.call('PEXPIRE', state, ttl)
	redis.call('PEXPIRE', index, ttl)
	for _, name in ipairs(redis.call('ZRANGE', index, 0, -1)) do
		redis.call('PEXPIRE', cpprefix .. name, ttl)
	end
end
`

// applyScript performs a Batch.
//
//	KEYS[1] state hash, KEYS[2] checkpoint index, KEYS[3] last batch ("ID REVISION")
//	ARGV[1] now (unix ns), ARGV[2] TTL in ms ("0": none), ARGV[3] checkpoint key prefix,
//	ARGV[4] "1" to replace, ARGV[5] schema JSON ("": keep, "-": remove),
//	ARGV[6] batch ID ("": none),
//	then a count and that many (key, revision) conditions (key "": the namespace;
//	a key of a NUL byte and a name: the recorded schema must be none or that
//	name at that version),
//	a count and that many keys to delete, a count and that many (key, value) puts.
//
// It returns {"ok", revision} or, when condition number i fails,
// {"conflict", i, found revision}.
var applyScript = goredis.NewScript(touchLua + `
local state, index, last = KEYS[1], KEYS[2], KEYS[3]
local now, ttl, cpprefix, replace, schema, batch = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5], ARGV[6]
local i = 7

-- A retry of a batch already applied (its reply was lost) returns that
-- write's revision rather than applying it again.
if batch ~= '' then
	local prev = redis.call('GET', last)
	if prev then
		local id, r = string.match(prev, '^(%S+) (%d+)$')
		if id == batch then return {'ok', tonumber(r)} end
	end
end

local nconds = tonumber(ARGV[i]); i = i + 1
for c = 1, nconds do
	local key, want = ARGV[i], tonumber(ARGV[i + 1]); i = i + 2
	if string.byte(key, 1) == 0 then
		-- The schema: none recorded, or this name at this version.
		local stored = redis.call('HGET', state, '_schema')
		if stored then
			local s = cjson.decode(stored)
			if s.name ~= string.sub(key, 2) or s.version ~= want then return {'conflict', c, s.version or -1} end
		end
	elseif key == '' then
		local have = tonumber(redis.call('HGET', state, '_rev') or '0')
		if want == 0 then
			-- The namespace must not exist: it holds no key and no schema,
			-- only (maybe) the bookkeeping that outlives its last key.
			local book = redis.call('HEXISTS', state, '_rev') + redis.call('HEXISTS', state, '_created')
			if redis.call('HLEN', state) > book then return {'conflict', c, have} end
		elseif have ~= want then
			return {'conflict', c, have}
		end
	else
		local have = 0
		if redis.call('HEXISTS', state, 'v:' .. key) == 1 then
			have = tonumber(redis.call('HGET', state, 'r:' .. key)) or -1
		end
		if have ~= want then return {'conflict', c, have} end
	end
end

local rev = redis.call('HINCRBY', state, '_rev', 1)
redis.call('HSETNX', state, '_created', now)
local r = string.format('%d', rev)

local ndels = tonumber(ARGV[i]); i = i + 1
local dels = i
i = i + ndels
local nputs = tonumber(ARGV[i]); i = i + 1
local puts = i

if replace then
	local keep = {}
	for p = 0, nputs - 1 do keep[ARGV[puts + 2 * p]] = true end
	for _, f in ipairs(redis.call('HKEYS', state)) do
		if string.sub(f, 1, 2) == 'v:' then
			local key = string.sub(f, 3)
			if not keep[key] then redis.call('HDEL', state, f, 'r:' .. key, 't:' .. key) end
		end
	end
end
for d = dels, dels + ndels - 1 do
	local key = ARGV[d]
	redis.call('HDEL', state, 'v:' .. key, 'r:' .. key, 't:' .. key)
end
for p = 0, nputs - 1 do
	local key = ARGV[puts + 2 * p]
	redis.call('HSET', state, 'v:' .. key, ARGV[puts + 2 * p + 1], 'r:' .. key, r, 't:' .. key, now)
end
if schema == '-' then
	redis.call('HDEL', state, '_schema')
elseif schema ~= '' then
	redis.call('HSET', state, '_schema', schema)
end
touch(ttl, state, index, cpprefix)
if batch ~= '' then
	redis.call('SET', last, batch .. ' ' .. r)
	if ttl ~= '0' then redis.call('PEXPIRE', last, ttl) end
end
return {'ok', rev}
`)

// putOneScript is applyScript for the common case, one key written with no
// condition, no schema and no TTL, in three calls instead of a dozen: a
// save is then little more than the HSET it stands for.
//
//	KEYS[1] state hash; ARGV[1] now (unix ns), ARGV[2] key, ARGV[3] value
var putOneScript = goredis.NewScript(`
local rev = redis.call('HINCRBY', KEYS[1], '_rev', 1)
redis.call('HSETNX', KEYS[1], '_created', ARGV[1])
redis.call('HSET', KEYS[1], 'v:' .. ARGV[2], ARGV[3], 'r:' .. ARGV[2], rev, 't:' .. ARGV[2], ARGV[1])
return rev
`)

// putCheckpointScript replaces a checkpoint.
//
//	KEYS[1] checkpoint hash, KEYS[2] checkpoint index, KEYS[3] state hash
//	ARGV[1] name, ARGV[2] created (unix ns), ARGV[3] created (unix ms),
//	ARGV[4] revision, ARGV[5] schema JSON ("": none), ARGV[6] TTL in ms,
//	ARGV[7] checkpoint key prefix, then (field, value) pairs.
var putCheckpointScript = goredis.NewScript(touchLua + `
local cp, index, state = KEYS[1], KEYS[2], KEYS[3]
redis.call('DEL', cp)
redis.call('HSET', cp, '_name', ARGV[1], '_created', ARGV[2], '_rev', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', cp, '_schema', ARGV[5]) end
-- HSET in slices: unpack of very many values would overflow Lua's stack.
local n = #ARGV
for i = 8, n, 300 do
	redis.call('HSET', cp, unpack(ARGV, i, math.min(i + 299, n)))
end
redis.call('ZADD', index, ARGV[3], ARGV[1])
touch(ARGV[6], state, index, ARGV[7])
return 1
`)

// deleteCheckpointScript removes a checkpoint; it returns 0 if there was none.
//
//	KEYS[1] checkpoint hash, KEYS[2] checkpoint index; ARGV[1] name
var deleteCheckpointScript = goredis.NewScript(`
local gone = redis.call('DEL', KEYS[1]) + redis.call('ZREM', KEYS[2], ARGV[1])
return gone
`)
