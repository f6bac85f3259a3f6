-- Sends deliveries again: back to pending with a fresh attempt budget, due now. The worker's
-- claim still applies newest-wins, so a redelivered old event ends superseded there.
-- KEYS: none.
-- ARGV: prefix, retention_s, mode, ...
--   mode "one":  id, then the configured target names.
--     Returns JSON {"record": {...}} or {"error": "not_found" | "in_flight" | "unknown_target"}.
--   mode "bulk": offset, batch, target, source, since_ms, until_ms (empty = any), then the
--     configured target names. Walks P:failed by rank from offset, at most batch entries.
--     Returns JSON {"redelivered": n, "next": offset | false}.
local P, retention, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = string.format('%.0f', now_ms())

local first_target = (mode == 'one') and 5 or 10
local configured = {}
for i = first_target, #ARGV do configured[ARGV[i]] = true end

-- P:stats counts pending/retrying/failed as "now in that state"; delivered and superseded are
-- running totals (complete.lua never takes them back), so they stay as they are here too.
local current = { pending = true, retrying = true, failed = true }
-- what a redelivery and the bulk filter read of a record (rec_get)
local REDELIVER_FIELDS = {'status', 'target', 'source', 'content_id'}
local FILTER_FIELDS = {'status', 'target', 'source', 'created_at'}

-- Returns nil on success, else an error code.
local function redeliver(id)
    local key = P .. ':d:' .. id
    local h = rec_get(P, id, REDELIVER_FIELDS)
    local status, target, source, content_id = h[1], h[2], h[3], h[4]
    if not status then return 'not_found' end
    if not target or not configured[target] then return 'unknown_target' end
    -- A worker holds it: changing it under the lease could send it twice at once.
    if redis.call('ZSCORE', P .. ':lease', id) then return 'in_flight' end

    local stats = P .. ':stats:' .. target
    if current[status] and (tonumber(redis.call('HGET', stats, status)) or 0) > 0 then
        redis.call('HINCRBY', stats, status, -1)
    end
    redis.call('HINCRBY', stats, 'pending', 1)

    -- the last attempt, if the record still holds it, joins the history first
    local held = redis.call('HMGET', key, 'attempt_at', 'attempt_count', 'http_status',
        'error_code', 'error_message', 'attempt_ms')
    if held[1] and held[1] ~= '' then
        redis.call('RPUSH', key .. ':attempts', attempt_json({attempt_at = held[1],
            attempt_count = held[2], http_status = held[3], error_code = held[4],
            error_message = held[5], attempt_ms = held[6]}))
    end
    redis.call('HSET', key, 'status', 'pending', 'attempt_count', '0', 'next_retry_at', now,
        'updated_at', now, 'error_code', '', 'error_message', '', 'http_status', '',
        'response_snippet', '', 'delivered_at', '', 'lease', '', 'superseded_by', '',
        'attempt_at', '', 'attempt_ms', '')
    if retention and retention > 0 then
        redis.call('EXPIRE', key, retention)
        redis.call('EXPIRE', key .. ':attempts', retention)
    end
    redis.call('ZREM', P .. ':failed', id)
    redis.call('ZADD', P .. ':due:' .. target, now, id)

    -- Make it the title's live delivery unless another one is still waiting, so that a newer
    -- event accepted later supersedes it as fan-out expects.
    if source and content_id then
        local title = title_key(P, target, source, content_id)
        local live = redis.call('HGET', title, 'live')
        local live_waiting = false
        if live and live ~= '' and live ~= id then
            local ls = redis.call('HGET', P .. ':d:' .. live, 'status')
            live_waiting = (ls == 'pending' or ls == 'retrying')
        end
        if not live_waiting then
            -- (fanout.lua reads the live delivery's event order from its record)
            redis.call('HSET', title, 'live', id)
        end
    end
    return nil
end

if mode == 'one' then
    local id = ARGV[4]
    local err = redeliver(id)
    if err then return cjson.encode({ error = err }) end
    return cjson.encode({ record = rec_table(P, id) })
end

-- bulk
local offset, batch = tonumber(ARGV[4]), tonumber(ARGV[5])
local ftarget, fsource = ARGV[6], ARGV[7]
local since, till = tonumber(ARGV[8]), tonumber(ARGV[9])
local ids = redis.call('ZRANGE', P .. ':failed', offset, offset + batch - 1)
local n, kept = 0, 0
for _, id in ipairs(ids) do
    local h = rec_get(P, id, FILTER_FIELDS)
    local ok = h[1] == 'failed'
    if ok and ftarget ~= '' and h[2] ~= ftarget then ok = false end
    if ok and fsource ~= '' and h[3] ~= fsource then ok = false end
    local created = tonumber(h[4])
    if ok and since and (not created or created < since) then ok = false end
    if ok and till and (not created or created > till) then ok = false end
    if ok and redeliver(id) == nil then
        n = n + 1
    else
        kept = kept + 1 -- still in P:failed: the next batch starts after it
    end
end
local next_offset = false
if #ids == batch then next_offset = offset + kept end
return cjson.encode({ redelivered = n, next = next_offset })
