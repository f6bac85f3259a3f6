-- Pauses or resumes one target (the caller checked it is configured). Resuming also closes
-- the target's circuit when it is open (the operator's word that the partner is back): its
-- waiting deliveries go out at once, and a target.circuit_closed alert is emitted.
-- KEYS: none. ARGV: prefix, target, "1" = pause / "0" = resume.
-- Returns JSON {"name", "paused", "pending", "retrying", "delivered", "failed", "superseded",
-- "circuit", "circuit_closed" (true when this call closed it)}.
local P, name, pause = ARGV[1], ARGV[2], ARGV[3] == '1'
local ckey = P .. ':circuit:' .. name
local closed = false
if pause then
    redis.call('SADD', P .. ':paused', name)
else
    redis.call('SREM', P .. ':paused', name)
    local c = redis.call('HMGET', ckey, 'state', 'fails', 'last_err_code', 'last_err_msg')
    if c[1] == 'open' then
        local now = now_ms()
        redis.call('HSET', ckey, 'state', 'closed', 'fails', 0, 'opened_at', '', 'probe_at', '',
                   'probe', '', 'closed_at', now)
        closed = true
        alert_emit(P, 'target.circuit_closed', name, now,
                   'Circuit to ' .. name .. ' closed by an operator (resume); its waiting ' ..
                   'deliveries go out again',
                   {failures = tonumber(c[2]) or 0, by = 'operator',
                    last_error = {code = c[3] or '', message = c[4] or ''}})
    end
end
local out = target_counts(P, name)
out.name = name
out.circuit = redis.call('HGET', ckey, 'state') or 'closed'
out.circuit_closed = closed
return cjson.encode(out)
