-- catalog_key: the per-deployment key that authenticates feed cursors, made once by whichever
-- relay asks first and then shared by every relay of the deployment.
-- KEYS: P:cat:key. ARGV: a fresh random key (hex), used only when none exists.
-- Returns the key in use (hex).
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
