-- sync_cancel: an operator cancels a sync run (POST /admin/syncs/{id}/cancel, relayctl sync
-- cancel). A run no live worker holds (queued, never claimed, or its worker's lease expired)
-- ends 'cancelled' here, at once; a run a worker is listing gets cancel_requested_at, and that
-- worker ends it 'cancelled' at its next page or beat (sync_page, sync_beat; sync_claim and
-- sync_finish honour the request too). Either way nothing is removed.
-- KEYS: none. ARGV: prefix, sync id, retention_s.
-- Returns {verdict, record}: verdict 'cancelled' (ended now), 'cancelling' (the worker ends
-- it), 'ended' (it had already ended: record's state says how) or 'unknown' (no such run;
-- record {}); record the run's HGETALL after the call.
--#include sync_lib
local P, id, retention = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local key = P .. ':sync:run:' .. id
local r = redis.call('HMGET', key, 'state', 'owner', 'lease_until', 'source', 'cancel_requested_at')
if not r[1] then return {'unknown', {}} end
if r[1] ~= 'running' then return {'ended', redis.call('HGETALL', key)} end
if (r[5] or '') == '' then
  redis.call('HSET', key, 'cancel_requested_at', now, 'updated_at', now)
end
local verdict = 'cancelling'
if (r[2] or '') == '' or (tonumber(r[3]) or 0) <= now then
  sync_end_cancelled(P, id, r[4] or '', now, retention)
  verdict = 'cancelled'
end
return {verdict, redis.call('HGETALL', key)}
