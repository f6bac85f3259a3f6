-- Per-target state for an operator (GET /admin/targets, relayctl targets): counts, paused, the
-- circuit and the last outcomes (P:circuit:{target}, written by complete.lua and claim.lua),
-- and for a target that serves a feed its last poll (P:cat:{target}:meta, written by the
-- relay's feed handler).
-- KEYS: none. ARGV: prefix, then per configured target: name, "1" when it serves a feed.
-- Returns JSON {"targets": {name: {pending, retrying, delivered, failed, superseded, paused,
-- circuit: {state, fails, opened_at, probe_at, last_ok_at, last_err_at, last_err_code,
-- last_err_msg, last_err_http}, feed: {last_poll_at, last_poll_status}}}} (times in ms as
-- text, "" = never; feed only for a target that serves one).
local P = ARGV[1]
local cfields = { 'state', 'fails', 'opened_at', 'probe_at', 'last_ok_at', 'last_err_at',
                  'last_err_code', 'last_err_msg', 'last_err_http' }
local out = {}
for i = 2, #ARGV - 1, 2 do
    local name = ARGV[i]
    local e = target_counts(P, name)
    local c = redis.call('HMGET', P .. ':circuit:' .. name, unpack(cfields))
    local circuit = {}
    for j, f in ipairs(cfields) do circuit[f] = c[j] or '' end
    e.circuit = circuit
    if ARGV[i + 1] == '1' then
        local m = redis.call('HMGET', P .. ':cat:' .. name .. ':meta', 'last_poll_at',
                             'last_poll_status')
        e.feed = { last_poll_at = m[1] or '', last_poll_status = m[2] or '' }
    end
    out[name] = e
end
return cjson.encode({ targets = out })
