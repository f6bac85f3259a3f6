-- sync_claim: takes (or renews) the lease on a running sync run, so that one worker at a time
-- lists it; a lease that expired (its worker died) is taken over from the checkpoint.
-- A run an operator asked to cancel while no worker held it ends 'cancelled' here.
-- KEYS: none. ARGV: prefix, sync id, owner token, lease_ms, retention_s.
-- Returns {'gone'} (ended, cancelled now or unknown: dropped from P:sync:active), {'held',
-- owner} (another worker's lease is valid), or {'ok', source, targets, full, dry_run, started_at, phase,
-- cursor, todo head, pages, taken_over (1 when a dead worker's lease was taken)}.
--#include sync_lib
local P, id, me, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local key = P .. ':sync:run:' .. id
local r = redis.call('HMGET', key, 'state', 'owner', 'lease_until', 'source', 'targets', 'full',
                     'dry_run', 'started_at', 'phase', 'cursor', 'pages', 'cancel_requested_at')
if r[1] ~= 'running' then
  redis.call('SREM', P .. ':sync:active', id)
  return {'gone'}
end
local owner, until_ms = r[2] or '', tonumber(r[3]) or 0
if owner ~= '' and owner ~= me and until_ms > now then return {'held', owner} end
if (r[12] or '') ~= '' then
  sync_end_cancelled(P, id, r[4] or '', now, tonumber(ARGV[5]))
  return {'gone'}
end
local taken = (owner ~= '' and owner ~= me) and 1 or 0
redis.call('HSET', key, 'owner', me, 'lease_until', now + lease)
if taken == 1 then redis.call('HINCRBY', key, 'takeovers', 1) end
local head = redis.call('LINDEX', key .. ':todo', 0) or ''
return {'ok', r[4], r[5] or '', r[6] or '0', r[7] or '0', r[8] or '0', r[9] or '', r[10] or '',
        head, r[11] or '0', taken}
