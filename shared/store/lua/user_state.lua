-- A user's state in one round trip: the cached list a request names, when it is there; else
-- what a list is computed from, the user's revision (cache.lua keeps the result unless it moved
-- meanwhile), live view and cluster.
-- The live view is the user's hash as fixed records, read whole: for each movie of the hash,
-- its id (8 bytes, little-endian) and a state byte, half stars + 128 when favoured (0: a
-- tombstone). ratings.lua drops it with the cached lists whenever the user changes; the next
-- read makes it again, and keeps it unless Redis refuses writes.
-- KEYS: Keys.recommendations_cache(user), Keys.user_revisions, Keys.user_live(user),
-- Keys.user(user), Keys.assignments(version) (an unused name without a version).
-- ARGV[1] the cache field ('' to read no list), ARGV[2] user, ARGV[3] 1 when there is a version.
-- Returns the cached body, or {revision, live view, cluster or false}.
local recommendations_cache, user_revisions, user_live, user, assignments = unpack(KEYS)
if ARGV[1] ~= '' then
  local cached = redis.call('HGET', recommendations_cache, ARGV[1])
  if cached then return cached end
end
local cluster = false
if ARGV[3] == '1' then cluster = redis.call('HGET', assignments, ARGV[2]) end
local view = redis.call('GET', user_live)
if not view then
  local entries = redis.call('HGETALL', user)
  local records = {}
  for i = 1, #entries, 2 do
    local half, fav = string.match(entries[i + 1], '^(%d+)|(%d)|')
    local id = tonumber(entries[i])  -- exact: ids stay below 2^53
    local bytes = {}
    for b = 1, 8 do
      bytes[b] = id % 256
      id = (id - bytes[b]) / 256
    end
    bytes[9] = tonumber(half) + 128 * tonumber(fav)
    records[#records + 1] = string.char(unpack(bytes))
  end
  view = table.concat(records)
  if view ~= '' then redis.pcall('SET', user_live, view) end
end
return {redis.call('HGET', user_revisions, ARGV[2]) or '0', view, cluster}
