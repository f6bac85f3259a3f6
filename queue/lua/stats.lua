-- Queue depth and per-target counts, as docs/redis.md "Queue depth" defines them.
-- KEYS: none. ARGV: prefix, then the configured target names.
-- Returns a JSON string: {"now", "queues": {ready, inflight, scheduled, failed},
-- "oldest_ms": age of the oldest ready item, "targets": {name: {counts..., paused, circuit}}}.
local P = ARGV[1]
local now = now_ms()
local nows = string.format('%.0f', now)

local ready, inflight, scheduled = 0, 0, 0
local oldest = -1 -- smallest "ready since" time in ms, -1 = nothing ready

-- The ingest stream: unread entries are ready, read-but-unacked ones are inflight.
local stream = P .. ':events'
if redis.call('EXISTS', stream) == 1 then
    local pending = 0
    local unread = nil
    local last_id = '0-0'
    local groups = redis.call('XINFO', 'GROUPS', stream)
    for _, g in ipairs(groups) do
        local f = {}
        for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
        if f['name'] == 'workers' then
            pending = tonumber(f['pending']) or 0
            last_id = f['last-delivered-id'] or '0-0'
            if f['lag'] then unread = tonumber(f['lag']) end
        end
    end
    if unread == nil then
        -- lag is unknown after XDEL; acked entries are deleted, so what is left in the
        -- stream is either pending or unread.
        unread = redis.call('XLEN', stream) - pending
        if unread < 0 then unread = 0 end
    end
    ready = ready + unread
    inflight = inflight + pending
    if unread > 0 then
        local first = redis.call('XRANGE', stream, '(' .. last_id, '+', 'COUNT', 1)
        if first[1] then
            local ms = tonumber(string.match(first[1][1], '^(%d+)'))
            if ms and (oldest < 0 or ms < oldest) then oldest = ms end
        end
    end
end

inflight = inflight + redis.call('ZCARD', P .. ':lease')
local failed = redis.call('ZCARD', P .. ':failed')

local targets = {}
for i = 2, #ARGV do
    local name = ARGV[i]
    local due = P .. ':due:' .. name
    ready = ready + redis.call('ZCOUNT', due, '-inf', nows)
    scheduled = scheduled + redis.call('ZCOUNT', due, '(' .. nows, '+inf')
    local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
    if first[2] then
        local ms = tonumber(first[2])
        if ms <= now and (oldest < 0 or ms < oldest) then oldest = ms end
    end
    local entry = target_counts(P, name)
    -- the breaker's state (complete.lua): "open" or "closed" (also when it never opened)
    entry['circuit'] = redis.call('HGET', P .. ':circuit:' .. name, 'state') or 'closed'
    targets[name] = entry
end

local oldest_ms = 0
if oldest >= 0 and now > oldest then oldest_ms = now - oldest end

return cjson.encode({
    now = nows,
    queues = { ready = ready, inflight = inflight, scheduled = scheduled, failed = failed },
    oldest_ms = oldest_ms,
    targets = targets,
})
