-- A user's state in one round trip: the cached list a request names, when it is there; else
-- what a list is computed from, the user's revision (cache.lua keeps the result unless it moved
-- meanwhile), live view and cluster.
-- The live view is the user's hash as fixed records, read whole: for each movie of the hash,
-- its id (8 bytes, little-endian) and a state byte, half stars + 128 when favoured (0: a
-- tombstone). ratings.lua drops it with the cached lists whenever the user changes; the next
-- read makes it again, and keeps it unless Redis refuses writes. Like the cached lists, its
-- write is not appended to the append-only file (see cache.lua).
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
  -- the hash's values start with a letter, 'a' + half stars, upper case when favoured (see
  -- ratings.lua), or, written before that form, 'half|favourite|': read as bytes
  local entries, records, byte, char = redis.call('HGETALL', user), {}, string.byte, string.char
  for i = 1, #entries, 2 do
    local c1, c2, c3, c4 = byte(entries[i + 1], 1, 4)
    local state
    if c1 >= 97 then
      state = c1 - 97
    elseif c1 >= 65 then
      state = c1 - 65 + 128
    elseif c2 == 124 then  -- '|' after one digit
      state = c1 - 48 + 128 * (c3 - 48)
    else
      state = (c1 - 48) * 10 + c2 - 48 + 128 * (c4 - 48)
    end
    local id = tonumber(entries[i])  -- exact: ids stay below 2^53
    local b1 = id % 256; id = (id - b1) / 256
    local b2 = id % 256; id = (id - b2) / 256
    local b3 = id % 256; id = (id - b3) / 256
    local b4 = id % 256; id = (id - b4) / 256
    local b5 = id % 256; id = (id - b5) / 256
    local b6 = id % 256; id = (id - b6) / 256
    local b7 = id % 256
    records[#records + 1] = char(b1, b2, b3, b4, b5, b6, b7, (id - b7) / 256, state)
  end
  view = table.concat(records)
  if view ~= '' then
    if redis.set_repl then redis.set_repl(redis.REPL_NONE) end  -- derived, as cache.lua's lists
    redis.pcall('SET', user_live, view)
  end
end
return {redis.call('HGET', user_revisions, ARGV[2]) or '0', view, cluster}
