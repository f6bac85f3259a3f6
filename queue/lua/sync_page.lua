-- sync_page: applies one listed page of a sync run, atomically with its checkpoint
-- (docs/redis.md, Sync). Either the whole page (its publishes, counts, the run's seen set and
-- the listing position) is written or none of it, so a worker that takes a dead one's run over
-- from the checkpoint neither skips a title nor queues one twice.
-- KEYS: none. ARGV: prefix, sync id, owner token, lease_ms, dedupe_ttl_s, retention_s,
-- skip mode ('ts': skip when the target's delivered order >= the title's updated_at; 'doc':
-- skip when the target's catalog holds exactly the document it would receive: its digest is
-- the item's for that target), new phase, new cursor, pop (1: the todo list's head is
-- finished), '<listed phase>=<total>' (what the CMS says that phase holds; '' = unknown),
-- n_todo, n_todo items to append, n_items, then per item 7 strings: content_id, content_type,
-- show_id, season_number, episode_number, order ms, and ('doc') per run target in the run's
-- order, comma-separated, the hex SHA-1 of the catalog document that target would get ('' =
-- unknown: queue it; '-' = the target does not take the title: nothing to send).
-- Returns {'ok', todo head after, seen, queued, skipped}, {'lost'} (not our lease) or
-- {'cancelled'} (an operator cancelled the run: it ended now, without this page).
--#include sync_lib
local P, id, me, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ttl, retention, mode = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local now = now_ms()
local key = P .. ':sync:run:' .. id
local r = redis.call('HMGET', key, 'state', 'owner', 'source', 'targets', 'full', 'dry_run',
                     'phase', 'cancel_requested_at')
if r[1] ~= 'running' or r[2] ~= me then return {'lost'} end
if (r[8] or '') ~= '' then
  sync_end_cancelled(P, id, r[3], now, retention)
  return {'cancelled'}
end
local src, full, dry = r[3], r[5] == '1', r[6] == '1'
local targets = {}
for name in string.gmatch(r[4] or '', '[^,]+') do table.insert(targets, name) end

local n_todo = tonumber(ARGV[12])
local a = 13
local todo = {}
for i = 1, n_todo do todo[i] = ARGV[a]; a = a + 1 end
local n_items = tonumber(ARGV[a]); a = a + 1
local seen_key = key .. ':seen'
local seen, queued, skipped = 0, 0, 0
for _ = 1, n_items do
  local cid, ctype, show, season, episode, order, fpl =
    ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  a = a + 7
  local fps = {}
  if mode == 'doc' then
    for f in string.gmatch(fpl .. ',', '([^,]*),') do table.insert(fps, f) end
  end
  -- A title listed twice in one run (a CMS page that shifted under the cursor, or a listing
  -- repeated after a takeover) is handled once.
  if redis.call('SADD', seen_key, cid) == 1 then
    seen = seen + 1
    local want, fpw = {}, {}
    for k, tg in ipairs(targets) do
      local skip = false
      local fp = fps[k] or ''
      if not full then
        if mode == 'ts' then
          local done = tonumber(redis.call('HGET', title_key(P, tg, src, cid), 'done_ts') or '')
          skip = done ~= nil and done >= tonumber(order)
        elseif fp == '-' then
          skip = true
        elseif fp ~= '' then
          -- what the partner holds: the catalog's live document, stored in C:docs at the
          -- entry's seq as 'L' .. seq .. ':' .. JSON (catalog_lib); a catalog written before
          -- C:docs keeps 'L' .. JSON under C:d: until catalog_migrate moves it
          local C = P .. ':cat:' .. tg
          local e = redis.call('HMGET', C .. ':e:' .. src .. ':' .. cid, 'status', 'seq')
          if e[1] == 'live' and e[2] then
            local d = redis.call('ZRANGEBYSCORE', C .. ':docs', e[2], e[2])[1]
            local body
            if d then
              local colon = string.find(d, ':', 2, true)
              if colon and string.sub(d, 1, 1) == 'L' then body = string.sub(d, colon + 1) end
            else
              d = redis.call('GET', C .. ':d:' .. src .. ':' .. cid)
              if d and string.sub(d, 1, 1) == 'L' then body = string.sub(d, 2) end
            end
            skip = body ~= nil and redis.sha1hex(body) == fp
          end
        end
      end
      if skip then
        if not dry and mode == 'ts' then
          redis.call('HSET', P .. ':sync:live:' .. src .. ':' .. tg, cid,
                     ctype .. '\t' .. show .. '\t' .. season .. '\t' .. episode .. '\t\t' .. order)
        end
      else
        table.insert(want, tg)
        fpw[tg] = fp == '-' and '' or fp
      end
    end
    if #want == 0 then
      skipped = skipped + 1
    else
      queued = queued + 1
      if not dry then
        local eid = 'sync:' .. id .. ':' .. cid
        if redis.call('SET', P .. ':dedupe:' .. src .. ':' .. eid, '1', 'NX', 'EX', ttl) then
          local stream = P .. ':events'
          local fresh = redis.call('EXISTS', stream) == 0
          redis.call('XADD', stream, '*', 'source', src, 'event_id', eid,
                     'type', 'content.published', 'content_type', ctype, 'content_id', cid,
                     'show_id', show, 'season_number', season, 'episode_number', episode,
                     'created_at', order, 'received_at', now, 'request_id', id,
                     'targets', table.concat(want, ','))
          if fresh then redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0') end
        end
        for _, tg in ipairs(want) do
          redis.call('HSET', P .. ':sync:live:' .. src .. ':' .. tg, cid,
                     ctype .. '\t' .. show .. '\t' .. season .. '\t' .. episode .. '\t' ..
                     fpw[tg] .. '\t' .. order)
        end
      end
    end
  end
end

local todo_key = key .. ':todo'
if ARGV[10] == '1' then redis.call('LPOP', todo_key) end
if n_todo > 0 then redis.call('RPUSH', todo_key, unpack(todo)) end
local tphase, total = string.match(ARGV[11], '^([%w_]+)=(%d+)$')
if total then redis.call('HSET', key, 'total_' .. tphase, total) end
redis.call('HINCRBY', key, 'pages', 1)
redis.call('HINCRBY', key, 'seen', seen)
redis.call('HSET', key, 'phase', ARGV[8], 'cursor', ARGV[9], 'lease_until', now + lease,
           'updated_at', now)
redis.call('HINCRBY', key, 'queued', queued)
redis.call('HINCRBY', key, 'skipped', skipped)
local m = P .. ':metrics'
if dry then queued, skipped = 0, 0 end
if queued > 0 then redis.call('HINCRBY', m, 'sync_titles_total|' .. src .. '|queued', queued) end
if skipped > 0 then redis.call('HINCRBY', m, 'sync_titles_total|' .. src .. '|skipped', skipped) end
local head = redis.call('LINDEX', todo_key, 0) or ''
local c = redis.call('HMGET', key, 'seen', 'queued', 'skipped')
return {'ok', head, c[1], c[2], c[3]}
