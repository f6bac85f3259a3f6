-- sync_finish: ends a sync run. After a complete listing (outcome 'done') with remove_missing,
-- every title a target holds of the source (live in its catalog P:cat:{target}, or in the
-- sync index P:sync:live:{source}:{target} of what syncs queued for it) that the listing did
-- not contain gets an unpublish, unless that is more than max_remove_fraction of a
-- target's titles: then nothing is removed and the run fails with too_many_removals. A failed
-- run removes nothing. KEYS: none. ARGV: prefix, sync id, owner token, outcome ('done' or
-- 'failed'), error code, error message, retention_s, remove_missing (0/1),
-- max_remove_fraction, dedupe_ttl_s.
-- A run an operator asked to cancel ends 'cancelled' instead, removing nothing.
-- Returns {'ok', state, error code, removed} or {'lost'}.
--#include sync_lib
local P, id, me, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local code, msg, retention = ARGV[5], ARGV[6], tonumber(ARGV[7])
local remove, frac, ttl = ARGV[8] == '1', tonumber(ARGV[9]), ARGV[10]
local now = now_ms()
local key = P .. ':sync:run:' .. id
local r = redis.call('HMGET', key, 'state', 'owner', 'source', 'targets', 'dry_run', 'started_at',
                     'cancel_requested_at')
if r[1] ~= 'running' or r[2] ~= me then return {'lost'} end
local src, dry, started = r[3], r[5] == '1', r[6]
if (r[7] or '') ~= '' then outcome, code, msg = 'cancelled', '', '' end
local seen_key = key .. ':seen'
local removed = 0

if outcome == 'done' and remove then
  -- Pass 1: what each target would lose, and the guard, before anything is written.
  local gone, order = {}, {}
  for tg in string.gmatch(r[4] or '', '[^,]+') do
    -- What the target holds of this source: the titles its catalog has live (delivered by
    -- webhooks or earlier runs; P:cat, see "Catalog") and those syncs queued for it.
    local live, ids = {}, {}
    local idx = P .. ':sync:live:' .. src .. ':' .. tg
    local all = redis.call('HGETALL', idx)
    for i = 1, #all, 2 do
      live[all[i]] = all[i + 1]; table.insert(ids, all[i])
    end
    local C = P .. ':cat:' .. tg
    local pre = src .. ':'
    for _, m in ipairs(redis.call('ZRANGE', C .. ':seq', 0, -1)) do
      if string.sub(m, 1, #pre) == pre then
        local cid = string.sub(m, #pre + 1)
        local e = redis.call('HMGET', C .. ':e:' .. m, 'status', 'content_type')
        if e[1] == 'live' and live[cid] == nil then
          live[cid] = (e[2] or '') .. '\t\t\t\t\t'; table.insert(ids, cid)
        end
      end
    end
    local n_live, miss = #ids, 0
    for _, cid in ipairs(ids) do
      if redis.call('SISMEMBER', seen_key, cid) == 0 then
        miss = miss + 1
        local g = gone[cid]
        if not g then g = {meta = live[cid], targets = {}}; gone[cid] = g; table.insert(order, cid) end
        table.insert(g.targets, tg)
      end
    end
    if n_live > 0 and miss > frac * n_live then
      outcome, code = 'failed', 'too_many_removals'
      msg = string.format('target %s would lose %d of its %d titles of source %s (more than ' ..
                          'max_remove_fraction %s); nothing removed', tg, miss, n_live, src,
                          ARGV[9])
      break
    end
  end
  if outcome == 'done' then
    removed = #order
    if not dry then
      local stream = P .. ':events'
      for _, cid in ipairs(order) do
        local g = gone[cid]
        local ctype, show, season, episode =
          string.match(g.meta, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)')
        local eid = 'sync:' .. id .. ':' .. cid
        if redis.call('SET', P .. ':dedupe:' .. src .. ':' .. eid, '1', 'NX', 'EX', ttl) then
          local fresh = redis.call('EXISTS', stream) == 0
          -- Ordered at the run's start: a webhook that published the title since wins.
          redis.call('XADD', stream, '*', 'source', src, 'event_id', eid,
                     'type', 'content.unpublished', 'content_type', ctype or '',
                     'content_id', cid, 'show_id', show or '', 'season_number', season or '',
                     'episode_number', episode or '', 'created_at', started,
                     'received_at', now, 'request_id', id,
                     'targets', table.concat(g.targets, ','))
          if fresh then redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0') end
        end
        for _, tg in ipairs(g.targets) do
          redis.call('HDEL', P .. ':sync:live:' .. src .. ':' .. tg, cid)
        end
      end
      if removed > 0 then
        redis.call('HINCRBY', P .. ':metrics', 'sync_titles_total|' .. src .. '|removed', removed)
      end
    end
  end
end

local state = (outcome == 'done' or outcome == 'cancelled') and outcome or 'failed'
sync_end(P, id, src, state, code, msg, removed, now, retention)
-- a cancelled run is no failure: no alert
if state == 'failed' then
  alert_emit(P, 'sync.failed', src, now, string.format('sync %s of source %s failed: %s', id, src,
                                                       code ~= '' and code or 'error'),
             {sync_id = id, source = src, error_code = code, error_message = msg})
end
return {'ok', state, code, removed}
