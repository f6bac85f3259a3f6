-- One delivery record with its attempts.
-- KEYS: none. ARGV: prefix, id, max attempts returned (newest kept).
-- Returns JSON {"record": {...}, "attempts": [json text...], "leased": bool} or
-- {"error": "not_found"}.
local P, id, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = P .. ':d:' .. id
local r = rec_table(P, id)
if next(r) == nil then return cjson.encode({ error = 'not_found' }) end
local attempts = redis.call('LRANGE', key .. ':attempts', -max, -1)
local total = redis.call('LLEN', key .. ':attempts')
-- the latest attempt may still be held in the record's own fields (prelude, attempt_json)
if r.attempt_at and r.attempt_at ~= '' then
  if #attempts >= max and #attempts > 0 then table.remove(attempts, 1) end
  if max > 0 then attempts[#attempts + 1] = attempt_json(r) end
  total = total + 1
end
return cjson.encode({
    record = r,
    attempts = attempts,
    attempts_total = total,
    leased = redis.call('ZSCORE', P .. ':lease', id) ~= false,
})
