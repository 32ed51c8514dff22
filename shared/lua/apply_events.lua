-- Apply a batch of events: last write wins by ts, derived counters move by the difference.
-- KEYS[1]: any key with the data hash tag (routes the script on Redis Cluster)
-- ARGV[1]: key base "{prefix}"   ARGV[2]: now (s)   ARGV[3]: JSON [[type,user,movie,half,ts,event_id],...]
-- ARGV[4]: 1 to append to each user's event log   ARGV[5]: log length cap
-- A user's state for one movie is the string "half|favourite|ts"; "0|0|ts" is a tombstone.
-- An event that would leave the state as it is counts as skipped.
-- Returns {applied, skipped, users whose number of ratings changed...}
local base = ARGV[1]
local now = tonumber(ARGV[2])
local events = cjson.decode(ARGV[3])
local keep_log = ARGV[4] == '1'
local log_cap = tonumber(ARGV[5])
local version = redis.call('GET', base .. ':model:active')
local assign = version and (base .. ':v:' .. version .. ':assign') or nil
local applied, skipped = 0, 0
local changed, changed_list = {}, {}

for _, e in ipairs(events) do
  local kind, user, movie, half, ts, eid = e[1], e[2], e[3], tonumber(e[4]), tonumber(e[5]), e[6]
  local fresh = true
  if eid ~= '' and redis.call('ZADD', base .. ':applied', 'NX', now, eid) == 0 then
    fresh = false
  end
  if fresh then
    local deleted = redis.call('HGET', base .. ':deleted', user)
    if deleted and ts <= tonumber(deleted) then fresh = false end
  end
  local ukey = base .. ':u:' .. user
  local old_half, old_fav, old_ts, old_raw = 0, 0, -1, nil
  if fresh then
    old_raw = redis.call('HGET', ukey, movie)
    local old = old_raw
    if old then
      local h, f, t = string.match(old, '^(%d+)|(%d)|(.+)$')
      old_half, old_fav, old_ts = tonumber(h), tonumber(f), tonumber(t)
      if ts < old_ts then fresh = false end
    end
  end
  local new_half, new_fav, value = 0, 0, nil
  if fresh then
    new_half, new_fav = old_half, old_fav
    if kind == 'rating' then
      new_half = half
      new_fav = (half >= 8) and 1 or 0
    elseif kind == 'favourite' then
      new_fav = 1
    elseif kind == 'unfavourite' then
      new_fav = 0
    else -- remove
      new_half, new_fav = 0, 0
    end
    value = new_half .. '|' .. new_fav .. '|' .. string.format('%.3f', ts)
    if old_raw == value then fresh = false end
  end
  if not fresh then
    skipped = skipped + 1
  else
    redis.call('HSET', ukey, movie, value)
    redis.call('SADD', base .. ':users', user)
    local d_n = ((new_half > 0) and 1 or 0) - ((old_half > 0) and 1 or 0)
    local d_sum = new_half - old_half
    local d_fav = new_fav - old_fav
    if d_n ~= 0 then
      redis.call('HINCRBY', base .. ':stats:n', movie, d_n)
      redis.call('HINCRBY', base .. ':nratings', user, d_n)
      if not changed[user] then changed[user] = true; table.insert(changed_list, user) end
    end
    if d_sum ~= 0 then redis.call('HINCRBY', base .. ':stats:sum', movie, d_sum) end
    if d_fav ~= 0 then redis.call('ZINCRBY', base .. ':popular', d_fav, movie) end
    if assign and (d_n ~= 0 or d_sum ~= 0 or d_fav ~= 0) then
      local c = redis.call('HGET', assign, user)
      if c then
        local cbase = base .. ':v:' .. version .. ':c:' .. c
        if d_n ~= 0 then redis.call('HINCRBY', cbase .. ':n', movie, d_n) end
        if d_sum ~= 0 then redis.call('HINCRBY', cbase .. ':sum', movie, d_sum) end
        if d_fav ~= 0 then redis.call('ZINCRBY', cbase .. ':fav', d_fav, movie) end
      end
    end
    if keep_log then
      local lkey = ukey .. ':log'
      redis.call('LPUSH', lkey, cjson.encode({kind, movie, half, ts}))
      redis.call('LTRIM', lkey, 0, log_cap - 1)
    end
    applied = applied + 1
  end
end
local result = {applied, skipped}
for _, u in ipairs(changed_list) do table.insert(result, u) end
return result
