-- catalog_lib: the catalog write (docs/redis.md, "Catalog"), shared by catalog_load.lua (bulk
-- load) and the worker's completion script. Not run on its own: a script that needs it has a
-- line "--#include catalog_lib" that queue/embed_lua.cmake (and the Python bulk loader)
-- replace with this file's text, so the one write is the same code on every path.
--
-- Keys, C = P:cat:{target}:
--   C:e:{source}:{content_id}  hash: status (live|removed), seq, order_ts, order_seq,
--                              updated_at, delivered_at, delivery_id, content_type, markets,
--                              was (the filter history, below) (short values only: Redis keeps
--                              it as a compact listpack)
--   C:docs                     zset seq -> the stored form of the entry at that seq: 'L'
--                              (live) or 'R' (removed), the seq, ':', then the document. In a
--                              zset rather than a key per title so that a feed reads a batch
--                              with one ZRANGEBYSCORE, without a key lookup per title (which
--                              cost Redis half of its time streaming a snapshot); the seq in
--                              it keeps members unique and tells the reader where it is
--   C:seq                      zset member "{source}:{content_id}" -> seq (every entry)
--   C:rm                       zset member -> ms it was removed (retention)
--   C:meta                     hash: seq (last given), dropped (highest seq of a removal
--                              dropped by retention), live, removed
--
-- was: what a filtered feed needs to send a removal of a title that left its filter. The
-- filter attributes the title had before each change of them, newest first, each ended by the
-- change at seq `end`: "end|L|content_type|markets" (live) or "end|R|content_type|markets"
-- (removed), separated by ';'. Past CAT_WAS_MAX of them the oldest are folded into one
-- "end|F|ct~mk/ct~mk..." (the distinct live attributes of everything before end, order lost:
-- a poller that old gets a removal when any of them matched its filter, never when none
-- did), or "end|W" (unknown: a removal to any filtered poller that old) past
-- CAT_FOLD_MAX distinct ones.

local CAT_WAS_MAX = 4
local CAT_FOLD_MAX = 8

-- -1 / 0 / 1: event order (ts, 'ms-seq') a against b; a missing b is older than anything.
local function cat_order_cmp(ats, aseq, bts, bseq)
  local x, y = tonumber(ats) or 0, tonumber(bts)
  if y == nil then return 1 end
  if x ~= y then return x < y and -1 or 1 end
  local a1, a2 = string.match(aseq or '', '^(%d+)-(%d+)$')
  local b1, b2 = string.match(bseq or '', '^(%d+)-(%d+)$')
  a1, a2, b1, b2 = tonumber(a1) or 0, tonumber(a2) or 0, tonumber(b1) or 0, tonumber(b2) or 0
  if a1 ~= b1 then return a1 < b1 and -1 or 1 end
  if a2 ~= b2 then return a2 < b2 and -1 or 1 end
  return 0
end

-- C:docs and C:seq members that catalog_put() gave in this script, per catalog C, written
-- with one ZADD each by catalog_flush() (a ZADD per title and key cost Redis a command's
-- overhead twice per write): docs, by seq as text -> the stored form (false once dropped
-- again in the same script), in order; seqs, the C:seq score/member pairs in order (a title
-- written twice in one script: the later pair wins, as two ZADDs would).
local cat_pend = {}
local function cat_pending(C)
  local p = cat_pend[C]
  if not p then
    p = {docs = {}, order = {}, seqs = {}}
    cat_pend[C] = p
  end
  return p
end

-- The stored form of the entry at seq (C:docs), or nil.
local function catalog_doc_at(C, seq)
  local p = cat_pend[C]
  local d = p and p.docs[seq]
  if d ~= nil then return d or nil end
  return redis.call('ZRANGEBYSCORE', C .. ':docs', seq, seq)[1]
end

-- Drops the C:docs member of seq (one written in this script is only forgotten).
local function cat_doc_drop(C, seq)
  local p = cat_pend[C]
  if p and p.docs[seq] then
    p.docs[seq] = false
    return
  end
  redis.call('ZREMRANGEBYSCORE', C .. ':docs', seq, seq)
end

-- ZADD key with the score/member pairs of flat, in runs that unpack() takes.
local function cat_zadd(key, flat)
  for i = 1, #flat, 2000 do
    redis.call('ZADD', key, unpack(flat, i, math.min(#flat, i + 1999)))
  end
end

-- Writes the members catalog_put() kept for catalog C.
local function cat_pend_flush(C)
  local p = cat_pend[C]
  if not p then return end
  cat_pend[C] = nil
  local flat = {}
  for _, seq in ipairs(p.order) do
    local d = p.docs[seq]
    if d then
      flat[#flat + 1] = seq
      flat[#flat + 1] = d
    end
  end
  if #flat > 0 then cat_zadd(C .. ':docs', flat) end
  if #p.seqs > 0 then cat_zadd(C .. ':seq', p.seqs) end
end

-- was with the epoch (st, ct, mk) ended by the change at seq `ended` put in front.
local function catalog_was_push(was, ended, st, ct, mk)
  local eps = {}
  for ep in string.gmatch(was or '', '[^;]+') do eps[#eps + 1] = ep end
  table.insert(eps, 1, ended .. '|' .. st .. '|' .. (ct or '') .. '|' .. (mk or ''))
  if #eps <= CAT_WAS_MAX then return table.concat(eps, ';') end
  -- fold the oldest two into one
  local e = string.match(eps[CAT_WAS_MAX], '^(%d+)')
  local pairs_, seen, wild = {}, {}, false
  for i = CAT_WAS_MAX, #eps do
    local est, rest = string.match(eps[i], '^%d+|(%a)|?(.*)$')
    local items = {}
    if est == 'L' then
      local c, m = string.match(rest, '^([^|]*)|(.*)$')
      items[1] = (c or '') .. '~' .. (m or '')
    elseif est == 'F' then
      for pr in string.gmatch(rest, '[^/]+') do items[#items + 1] = pr end
    elseif est ~= 'R' then
      wild = true
    end
    for _, pr in ipairs(items) do
      if not seen[pr] then seen[pr] = true; pairs_[#pairs_ + 1] = pr end
    end
  end
  for i = #eps, CAT_WAS_MAX, -1 do eps[i] = nil end
  if wild or #pairs_ > CAT_FOLD_MAX then
    eps[CAT_WAS_MAX] = e .. '|W'
  else
    eps[CAT_WAS_MAX] = e .. '|F|' .. table.concat(pairs_, '/')
  end
  return table.concat(eps, ';')
end

-- Drops up to max removals older than retention_ms. Returns how many.
local function catalog_prune(P, T, now, retention_ms, max)
  local C = P .. ':cat:' .. T
  local old = redis.call('ZRANGEBYSCORE', C .. ':rm', '-inf', itoa(now - retention_ms), 'LIMIT', 0,
                         itoa(max))
  if #old == 0 then return 0 end
  local dropped = tonumber(redis.call('HGET', C .. ':meta', 'dropped')) or 0
  for _, m in ipairs(old) do
    local s = redis.call('ZSCORE', C .. ':seq', m) or '0'
    if tonumber(s) > dropped then dropped = tonumber(s) end
    redis.call('DEL', C .. ':e:' .. m, C .. ':d:' .. m) -- :d: from a build before C:docs
    redis.call('ZREMRANGEBYSCORE', C .. ':docs', s, s)
    redis.call('ZREM', C .. ':seq', m)
  end
  redis.call('ZREM', C .. ':rm', unpack(old))
  redis.call('HSET', C .. ':meta', 'dropped', itoa(dropped))
  redis.call('HINCRBY', C .. ':meta', 'removed', itoa(-#old))
  return #old
end

-- C:meta's seq, live and removed of each target written in this script, kept in memory and
-- written once by catalog_flush() (nothing reads them in between): the catalog write costs
-- no HINCRBY of its own. The retention's prune, too, runs once per target and script (up to
-- 4 per change, as many as a prune after each change would drop).
local cat_meta, cat_targets = {}, {}
local function cat_state(P, T)
  local m = cat_meta[T]
  if not m then
    m = {seq = tonumber(redis.call('HGET', P .. ':cat:' .. T .. ':meta', 'seq')) or 0,
         live = 0, removed = 0, changed = 0, retention_ms = 0}
    m.seq0 = m.seq
    cat_meta[T] = m
    cat_targets[#cat_targets + 1] = T
  end
  return m
end

-- Writes what catalog_put() kept in memory. Every script that calls catalog_put calls this
-- once, after its last catalog_put.
local function catalog_flush(P, now)
  for _, T in ipairs(cat_targets) do
    local m, mk = cat_meta[T], P .. ':cat:' .. T .. ':meta'
    cat_pend_flush(P .. ':cat:' .. T)
    if m.seq ~= m.seq0 then redis.call('HSET', mk, 'seq', itoa(m.seq)) end
    if m.live ~= 0 then redis.call('HINCRBY', mk, 'live', itoa(m.live)) end
    if m.removed ~= 0 then redis.call('HINCRBY', mk, 'removed', itoa(m.removed)) end
    if m.changed > 0 and m.retention_ms > 0 then
      catalog_prune(P, T, now, m.retention_ms, 4 * m.changed)
    end
  end
  cat_meta, cat_targets = {}, {}
end

-- Writes one title into target T's catalog. e: source, content_id, status ('live' or
-- 'removed'), doc (the per-title document, JSON text; ignored for a removal, which keeps the
-- last live one), order_ts, order_seq, updated_at, content_type, markets, delivery_id.
-- nows: now as integer text. Returns 'changed' (new seq), 'unchanged' (same document:
-- bookkeeping only), 'older' (the catalog holds a newer event: nothing written) or
-- 'not_in_catalog' (a removal of a title the target never had: nothing written). The caller
-- calls catalog_flush() after its last write.
local function catalog_put(P, T, e, now, nows, retention_ms)
  local C = P .. ':cat:' .. T
  local m = e.source .. ':' .. e.content_id
  local ek = C .. ':e:' .. m
  local cur = redis.call('HMGET', ek, 'status', 'order_ts', 'order_seq', 'seq', 'content_type',
                         'markets', 'was')
  if cur[1] and cat_order_cmp(e.order_ts, e.order_seq, cur[2], cur[3]) < 0 then return 'older' end
  local book = {'order_ts', e.order_ts or '', 'order_seq', e.order_seq or '', 'delivered_at', nows,
                'delivery_id', e.delivery_id or ''}
  local old = cur[1] and cur[4] and catalog_doc_at(C, cur[4])
  if cur[4] and not old then
    -- written by a build that kept a string per title, not migrated yet: moved here
    -- (catalog_migrate.lua does the rest)
    local legacy = redis.call('GET', C .. ':d:' .. m)
    if legacy then
      old = string.sub(legacy, 1, 1) .. cur[4] .. ':' .. string.sub(legacy, 2)
      redis.call('ZADD', C .. ':docs', cur[4], old)
      redis.call('DEL', C .. ':d:' .. m)
    end
  end
  local doc = e.doc or ''
  -- where the document starts in the stored form of the entry ('L' .. seq .. ':' .. doc)
  local at = cur[4] and #cur[4] + 3
  if e.status == 'removed' then
    if not cur[1] then return 'not_in_catalog' end
    if cur[1] == 'removed' then
      redis.call('HSET', ek, unpack(book))
      return 'unchanged'
    end
  elseif cur[1] == 'live' and old and #old == at - 1 + #doc and
         string.sub(old, 1, at - 1) == 'L' .. cur[4] .. ':' and string.find(old, doc, at, true) == at and (cur[5] or '') == (e.content_type or '') and
         (cur[6] or '') == (e.markets or '') then
    -- the same document (compared in place, without building the stored form again: a plain
    -- find of the whole document at `at` checks that one position only). Markets or type
    -- changed under the same document are a change, for the filtered feeds.
    table.insert(book, 'updated_at')
    table.insert(book, e.updated_at or '')
    redis.call('HSET', ek, unpack(book))
    return 'unchanged'
  end
  local cm = cat_state(P, T)
  cm.seq = cm.seq + 1
  cm.changed = cm.changed + 1
  if retention_ms and retention_ms > cm.retention_ms then cm.retention_ms = retention_ms end
  local seq = itoa(cm.seq)
  table.insert(book, 'status'); table.insert(book, e.status)
  table.insert(book, 'seq'); table.insert(book, seq)
  local ct, mk = cur[5], cur[6]
  if e.status == 'live' then
    -- a removal keeps what the partner last had: its removal document is rendered from it
    for _, f in ipairs({'updated_at', 'content_type', 'markets'}) do
      table.insert(book, f); table.insert(book, e[f] or '')
    end
    ct, mk = e.content_type or '', e.markets or ''
  end
  -- the filter attributes the title leaves, for the filtered feeds' removals
  local st = e.status == 'live' and 'L' or 'R'
  if cur[1] then
    local cst = cur[1] == 'live' and 'L' or 'R'
    if cst ~= st or (cur[5] or '') ~= ct or (cur[6] or '') ~= mk then
      table.insert(book, 'was')
      table.insert(book, catalog_was_push(cur[7], seq, cst, cur[5], cur[6]))
    end
    if cur[4] then cat_doc_drop(C, cur[4]) end
  end
  if e.status ~= 'live' then
    doc = old and string.sub(old, at) or ''
  end
  local pend = cat_pending(C)
  pend.docs[seq] = st .. seq .. ':' .. doc
  pend.order[#pend.order + 1] = seq
  pend.seqs[#pend.seqs + 1] = seq
  pend.seqs[#pend.seqs + 1] = m
  redis.call('HSET', ek, unpack(book))
  if e.status == 'removed' then
    redis.call('ZADD', C .. ':rm', nows, m)
    cm.live, cm.removed = cm.live - 1, cm.removed + 1
  elseif cur[1] == 'removed' then
    redis.call('ZREM', C .. ':rm', m)
    cm.live, cm.removed = cm.live + 1, cm.removed - 1
  elseif not cur[1] then
    cm.live = cm.live + 1
  end
  return 'changed'
end
