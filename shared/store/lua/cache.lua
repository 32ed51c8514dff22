-- Store a computed recommendation list unless the user changed meanwhile (ratings.lua gives
-- every change a new revision and drops the cache).
-- KEYS: Keys.user_revisions, Keys.recommendations_cache(user). ARGV[1] user, ARGV[2] revision
-- the list was computed at, ARGV[3] field, ARGV[4] body, ARGV[5] ttl.
local user_revisions, recommendations_cache = unpack(KEYS)
local now_rev = redis.call('HGET', user_revisions, ARGV[1]) or '0'
if now_rev ~= ARGV[2] then return 0 end
-- A list is derived data: its write is not appended to the append-only file (nor sent to
-- replicas), which would otherwise grow by every list computed and be rewritten every few
-- minutes under load. A rewrite snapshots the lists of the moment; ratings.lua's deletions are
-- appended, so a restart never serves a stale one. (fakeredis's Lua has no set_repl.)
if redis.set_repl then redis.set_repl(redis.REPL_NONE) end
redis.call('HSET', recommendations_cache, ARGV[3], ARGV[4])
redis.call('EXPIRE', recommendations_cache, tonumber(ARGV[5]))
return 1
