-- The ratings store's writes, one script so that every path moves the derived counters the
-- same way. ARGV[1] = command, ARGV[2] = key base "{prefix}", the rest per command.
-- KEYS[1] is any key with the data hash tag (routes the script on Redis Cluster).
-- A user's state for one movie is "half|favourite|ts"; "0|0|ts" is a tombstone.
-- Per model version v, cluster c: c:n / c:sum hashes (ratings, half stars), c:fav zset
-- (favourite counts), c:mean zset (cluster mean shrunk toward the movie's baseline prior).
local cmd, base = ARGV[1], ARGV[2]
-- Counters are kept for the active version and for one being built beside it (the trainer's
-- swap), so the new version's counters are complete at the moment it becomes active.
local versions = {}
for _, pointer in ipairs({':model:active', ':model:building'}) do
  local v = redis.call('GET', base .. pointer)
  if v and (not versions[1] or versions[1].name ~= v) then
    local vbase = base .. ':v:' .. v
    local params = redis.call('HMGET', vbase .. ':params', 'shrink', 'mu')
    table.insert(versions, {name = v, vbase = vbase, shrink = tonumber(params[1]) or 0,
                            mu = tonumber(params[2]) or 0})
  end
end

local function parse(value)
  local h, f, t = string.match(value, '^(%d+)|(%d)|(.+)$')
  return tonumber(h), tonumber(f), tonumber(t)
end

local function bump_movie(movie, d_n, d_sum, d_fav)
  if d_n ~= 0 then redis.call('HINCRBY', base .. ':stats:n', movie, d_n) end
  if d_sum ~= 0 then redis.call('HINCRBY', base .. ':stats:sum', movie, d_sum) end
  if d_fav ~= 0 then redis.call('ZINCRBY', base .. ':popular', d_fav, movie) end
end

local function bump_cluster(v, c, movie, d_n, d_sum, d_fav)
  local cbase = v.vbase .. ':c:' .. c
  if d_fav ~= 0 then redis.call('ZINCRBY', cbase .. ':fav', d_fav, movie) end
  if d_n == 0 and d_sum == 0 then return end
  local n = redis.call('HINCRBY', cbase .. ':n', movie, d_n)
  local sum = redis.call('HINCRBY', cbase .. ':sum', movie, d_sum)
  if n <= 0 then
    redis.call('ZREM', cbase .. ':mean', movie)
  else
    local prior = tonumber(redis.call('HGET', v.vbase .. ':prior', movie)) or v.mu
    redis.call('ZADD', cbase .. ':mean', (sum / 2 + v.shrink * prior) / (n + v.shrink), movie)
  end
end

-- clusters[i]: the user's cluster under versions[i], or false
local function clusters_of(user)
  local out = {}
  for i, v in ipairs(versions) do out[i] = redis.call('HGET', v.vbase .. ':assign', user) end
  return out
end

local function bump_clusters(clusters, movie, d_n, d_sum, d_fav)
  for i, v in ipairs(versions) do
    if clusters[i] then bump_cluster(v, clusters[i], movie, d_n, d_sum, d_fav) end
  end
end

-- move every live entry of a user into (sign 1) or out of (sign -1) cluster c of version v
local function shift_user(v, user, c, sign)
  local entries = redis.call('HGETALL', base .. ':u:' .. user)
  for i = 1, #entries, 2 do
    local half, fav = parse(entries[i + 1])
    if half > 0 or fav > 0 then
      bump_cluster(v, c, entries[i], sign * ((half > 0) and 1 or 0), sign * half, sign * fav)
    end
  end
end

-- a user's state or cluster changed: new revision, cached recommendation lists dropped
local function touch_user(user)
  redis.call('HINCRBY', base .. ':urev', user, 1)
  redis.call('DEL', base .. ':rec:' .. user)
end

-- apply decoded events; returns applied, skipped, users whose number of ratings changed.
-- What repeats across a batch is looked up or written once per user: deletion mark,
-- clusters, membership, revision, log trim.
local function apply_events(events, now, keep_log, log_cap)
  local applied, skipped, changed, changed_list = 0, 0, {}, {}
  local seen, touched = {}, {}
  for _, e in ipairs(events) do
    local kind, user, movie, half, ts, eid = e[1], e[2], e[3], tonumber(e[4]), tonumber(e[5]), e[6]
    local ukey = base .. ':u:' .. user
    local info = seen[user]
    if not info then
      info = {deleted = tonumber(redis.call('HGET', base .. ':deleted', user)), clusters = nil}
      seen[user] = info
    end
    local fresh = not (eid ~= '' and redis.call('ZADD', base .. ':applied', 'NX', now, eid) == 0)
    if fresh and info.deleted and ts <= info.deleted then fresh = false end
    local old_half, old_fav, old_ts, old_raw = 0, 0, -1, nil
    if fresh then
      old_raw = redis.call('HGET', ukey, movie)
      if old_raw then
        old_half, old_fav, old_ts = parse(old_raw)
        if ts < old_ts then fresh = false end
      end
    end
    local new_half, new_fav, value = old_half, old_fav, nil
    if fresh then
      if kind == 'rating' then
        new_half, new_fav = half, (half >= 8) and 1 or 0
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
      if not touched[user] then touched[user] = true; table.insert(touched, user) end
      local d_n = ((new_half > 0) and 1 or 0) - ((old_half > 0) and 1 or 0)
      local d_sum, d_fav = new_half - old_half, new_fav - old_fav
      bump_movie(movie, d_n, d_sum, d_fav)
      if d_n ~= 0 then
        redis.call('HINCRBY', base .. ':nratings', user, d_n)
        if not changed[user] then changed[user] = true; table.insert(changed_list, user) end
      end
      if d_n ~= 0 or d_sum ~= 0 or d_fav ~= 0 then
        if not info.clusters then info.clusters = clusters_of(user) end
        bump_clusters(info.clusters, movie, d_n, d_sum, d_fav)
      end
      if keep_log then redis.call('LPUSH', ukey .. ':log', cjson.encode({kind, movie, half, ts})) end
      applied = applied + 1
    end
  end
  for _, user in ipairs(touched) do
    redis.call('SADD', base .. ':users', user)
    touch_user(user)
    if keep_log then redis.call('LTRIM', base .. ':u:' .. user .. ':log', 0, log_cap - 1) end
  end
  return applied, skipped, changed_list
end

if cmd == 'apply' then
  -- ARGV[3] now, ARGV[4] JSON [[type,user,movie,half,ts,event_id],...], ARGV[5] log?, ARGV[6] cap
  -- returns {applied, skipped, users whose number of ratings changed...}
  local applied, skipped, changed = apply_events(cjson.decode(ARGV[4]), tonumber(ARGV[3]),
                                                 ARGV[5] == '1', tonumber(ARGV[6]))
  local result = {applied, skipped}
  for _, u in ipairs(changed) do table.insert(result, u) end
  return result

elseif cmd == 'push' then
  -- ARGV[3] seconds a drain claim lasts, ARGV[4..] events as JSON: append them to the inbox;
  -- returns 1 when no drain was under way, so the caller must enqueue a drain job
  redis.call('RPUSH', base .. ':inbox', unpack(ARGV, 4))
  if redis.call('SET', base .. ':inbox:draining', 1, 'NX', 'EX', tonumber(ARGV[3])) then
    return 1
  end
  return 0

elseif cmd == 'drain' then
  -- ARGV[3] now, ARGV[4] most events, ARGV[5] log?, ARGV[6] cap, ARGV[7] release?, ARGV[8] claim
  -- seconds: take and
  -- apply the oldest events of the inbox in one step (a crash loses none); returns {applied,
  -- skipped, events left, users whose number of ratings changed...}; with release, the
  -- drain claim ends when the inbox is empty
  local inbox = base .. ':inbox'
  local items = redis.call('LRANGE', inbox, 0, tonumber(ARGV[4]) - 1)
  local events = {}
  for i, item in ipairs(items) do events[i] = cjson.decode(item) end
  local applied, skipped, changed = apply_events(events, tonumber(ARGV[3]), ARGV[5] == '1',
                                                 tonumber(ARGV[6]))
  redis.call('LTRIM', inbox, #items, -1)
  local left = redis.call('LLEN', inbox)
  if left == 0 and ARGV[7] == '1' then
    redis.call('DEL', inbox .. ':draining')
  else
    redis.call('EXPIRE', inbox .. ':draining', tonumber(ARGV[8]))  -- still ours: renew
  end
  local result = {applied, skipped, left}
  for _, u in ipairs(changed) do table.insert(result, u) end
  return result

elseif cmd == 'cache' then
  -- ARGV[3] user, ARGV[4] revision the list was computed at, ARGV[5] field, ARGV[6] body,
  -- ARGV[7] ttl: store a computed list unless the user changed meanwhile
  local now_rev = redis.call('HGET', base .. ':urev', ARGV[3]) or '0'
  if now_rev ~= ARGV[4] then return 0 end
  local key = base .. ':rec:' .. ARGV[3]
  redis.call('HSET', key, ARGV[5], ARGV[6])
  redis.call('EXPIRE', key, tonumber(ARGV[7]))
  return 1

elseif cmd == 'delete_user' then
  -- ARGV[3] user, ARGV[4] ts: remove every trace; events up to ts are ignored from now on
  local user, ts = ARGV[3], tonumber(ARGV[4])
  local ukey = base .. ':u:' .. user
  for _, v in ipairs(versions) do
    local c = redis.call('HGET', v.vbase .. ':assign', user)
    if c then
      shift_user(v, user, c, -1)
      redis.call('HDEL', v.vbase .. ':assign', user)
      redis.call('HINCRBY', v.vbase .. ':sizes', c, -1)
    end
  end
  local entries = redis.call('HGETALL', ukey)
  for i = 1, #entries, 2 do
    local half, fav = parse(entries[i + 1])
    bump_movie(entries[i], -((half > 0) and 1 or 0), -half, -fav)
  end
  redis.call('DEL', ukey, ukey .. ':log')
  touch_user(user)
  redis.call('HDEL', base .. ':nratings', user)
  redis.call('SREM', base .. ':users', user)
  local previous = tonumber(redis.call('HGET', base .. ':deleted', user))
  if not previous or ts > previous then redis.call('HSET', base .. ':deleted', user, ts) end
  return #entries / 2

elseif cmd == 'assign' then
  -- ARGV[3] version (the active one or the one being built), then pairs user, cluster:
  -- move users and their counts; -1 when that version is neither (the caller is stale)
  local v = nil
  for _, candidate in ipairs(versions) do
    if candidate.name == ARGV[3] then v = candidate end
  end
  if not v then return -1 end
  local moved = 0
  for i = 4, #ARGV, 2 do
    local user, c = ARGV[i], ARGV[i + 1]
    local old = redis.call('HGET', v.vbase .. ':assign', user)
    if old ~= c then
      if old then
        shift_user(v, user, old, -1)
        redis.call('HINCRBY', v.vbase .. ':sizes', old, -1)
      end
      shift_user(v, user, c, 1)
      redis.call('HINCRBY', v.vbase .. ':sizes', c, 1)
      redis.call('HSET', v.vbase .. ':assign', user, c)
      touch_user(user)
      moved = moved + 1
    end
  end
  return moved
end
return redis.error_reply('unknown command ' .. tostring(cmd))
