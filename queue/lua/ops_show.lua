-- One delivery record with its attempts.
-- KEYS: none. ARGV: prefix, id, max attempts returned (newest kept).
-- Returns JSON {"record": {...}, "attempts": [json text...], "leased": bool} or
-- {"error": "not_found"}.
local P, id, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = P .. ':d:' .. id
local r = hash_table(key)
if next(r) == nil then return cjson.encode({ error = 'not_found' }) end
local attempts = redis.call('LRANGE', key .. ':attempts', -max, -1)
local total = redis.call('LLEN', key .. ':attempts')
return cjson.encode({
    record = r,
    attempts = attempts,
    attempts_total = total,
    leased = redis.call('ZSCORE', P .. ':lease', id) ~= false,
})
