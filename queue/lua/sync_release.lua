-- sync_release: a worker that stops hands its run back at once (lease cleared), so another
-- worker continues from the checkpoint without waiting for the lease to expire.
-- KEYS: none. ARGV: prefix, sync id, owner token. Returns 1, or 0 when it was not ours.
local key = ARGV[1] .. ':sync:run:' .. ARGV[2]
if redis.call('HGET', key, 'owner') ~= ARGV[3] then return 0 end
redis.call('HSET', key, 'owner', '', 'lease_until', 0)
return 1
