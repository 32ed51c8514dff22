-- A request for a recommendation list in one round trip: the cached list, or on a miss what the
-- API computes it from (cache.lua keeps the result unless the user changed meanwhile).
-- KEYS: Keys.recommendations_cache(user), Keys.user_revisions, Keys.user(user),
-- Keys.assignments(version) (the version whose cluster the list may read; an unused name
-- without a version). ARGV[1] field, ARGV[2] user, ARGV[3] 1 when there is a version.
-- Returns the cached body, or {revision, the user's hash as HGETALL gives it, cluster or false}.
local recommendations_cache, user_revisions, user, assignments = unpack(KEYS)
local cached = redis.call('HGET', recommendations_cache, ARGV[1])
if cached then return cached end
local cluster = false
if ARGV[3] == '1' then cluster = redis.call('HGET', assignments, ARGV[2]) end
return {redis.call('HGET', user_revisions, ARGV[2]) or '0', redis.call('HGETALL', user), cluster}
