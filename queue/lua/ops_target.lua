-- Pauses or resumes one target (the caller checked it is configured).
-- KEYS: none. ARGV: prefix, target, "1" = pause / "0" = resume.
-- Returns JSON {"name", "paused", "pending", "retrying", "delivered", "failed", "superseded"}.
local P, name, pause = ARGV[1], ARGV[2], ARGV[3] == '1'
if pause then
    redis.call('SADD', P .. ':paused', name)
else
    redis.call('SREM', P .. ':paused', name)
end
local fields = { 'pending', 'retrying', 'delivered', 'failed', 'superseded' }
local counts = redis.call('HMGET', P .. ':stats:' .. name, unpack(fields))
local out = { name = name, paused = redis.call('SISMEMBER', P .. ':paused', name) == 1 }
for j, f in ipairs(fields) do
    local n = tonumber(counts[j]) or 0
    if n < 0 then n = 0 end
    out[f] = n
end
return cjson.encode(out)
