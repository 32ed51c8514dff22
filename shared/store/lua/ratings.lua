-- The ratings store's writes, one script so that every path moves the derived counters the
-- same way. ARGV[1] = command, ARGV[2] = key base "{prefix}", the rest per command.
-- KEYS[1] is any key with the data hash tag (routes the script on Redis Cluster).
-- A user's state for one movie is "half|favourite|ts"; "0|0|ts" is a tombstone.
-- Per model version v, cluster c: c:n / c:sum hashes (ratings, half stars), c:fav zset
-- (favourite counts), c:mean zset (cluster mean shrunk toward the movie's baseline prior).
local cmd, base = ARGV[1], ARGV[2]
-- The two commands on the API's request path come first: they need none of what follows.
if cmd == 'push' then
  -- ARGV[3] seconds a drain claim lasts, ARGV[4..] events as JSON: append them to the inbox;
  -- returns 1 when no drain was under way, so the caller must enqueue a drain job
  redis.call('RPUSH', base .. ':inbox', unpack(ARGV, 4))
  if redis.call('SET', base .. ':inbox:draining', 1, 'NX', 'EX', tonumber(ARGV[3])) then
    return 1
  end
  return 0
elseif cmd == 'cache' then
  -- ARGV[3] user, ARGV[4] revision the list was computed at, ARGV[5] field, ARGV[6] body,
  -- ARGV[7] ttl: store a computed list unless the user changed meanwhile
  local now_rev = redis.call('HGET', base .. ':urev', ARGV[3]) or '0'
  if now_rev ~= ARGV[4] then return 0 end
  local key = base .. ':rec:' .. ARGV[3]
  redis.call('HSET', key, ARGV[5], ARGV[6])
  redis.call('EXPIRE', key, tonumber(ARGV[7]))
  return 1
end

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

local stats_n, stats_sum, popular = base .. ':stats:n', base .. ':stats:sum', base .. ':popular'

local function bump_movie(movie, d_n, d_sum, d_fav)
  if d_n ~= 0 then redis.call('HINCRBY', stats_n, movie, d_n) end
  if d_sum ~= 0 then redis.call('HINCRBY', stats_sum, movie, d_sum) end
  if d_fav ~= 0 then redis.call('ZINCRBY', popular, d_fav, movie) end
end

-- redis.call(command, key, unpack(args)) in slices (Lua's unpack is limited to a few
-- thousand values); without key, redis.call(command, unpack(args)), as for DEL
local function call_with_list(command, key, args)
  for i = 1, #args, 1000 do
    local last = math.min(i + 999, #args)
    if key then
      redis.call(command, key, unpack(args, i, last))
    else
      redis.call(command, unpack(args, i, last))
    end
  end
end

-- HMGET of many fields, in slices; values aligned with fields (false when missing)
local function hmget_list(key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for j, value in ipairs(part) do out[i + j - 1] = value end
  end
  return out
end

-- Cluster means whose counts moved, recomputed once per command by update_means (a movie's
-- mean is written once however many of its ratings the command moved):
-- moved_means[cbase] = {v = version, list = {movie...}, n = {movie = n}, sum = {movie = sum}}
local moved_means = {}

local function bump_cluster(v, c, movie, d_n, d_sum, d_fav)
  local cbase = v.vbase .. ':c:' .. c
  if d_fav ~= 0 then redis.call('ZINCRBY', cbase .. ':fav', d_fav, movie) end
  if d_n == 0 and d_sum == 0 then return end
  local moved = moved_means[cbase]
  if not moved then
    moved = {v = v, list = {}, n = {}, sum = {}}
    moved_means[cbase] = moved
  end
  if not moved.n[movie] then table.insert(moved.list, movie) end
  moved.n[movie] = redis.call('HINCRBY', cbase .. ':n', movie, d_n)
  moved.sum[movie] = redis.call('HINCRBY', cbase .. ':sum', movie, d_sum)
end

local function update_means()
  for cbase, moved in pairs(moved_means) do
    local v = moved.v
    local priors = hmget_list(v.vbase .. ':prior', moved.list)
    local scored, gone = {}, {}
    for i, movie in ipairs(moved.list) do
      local n = moved.n[movie]
      if n <= 0 then
        table.insert(gone, movie)
      else
        local prior = tonumber(priors[i]) or v.mu
        table.insert(scored, (moved.sum[movie] / 2 + v.shrink * prior) / (n + v.shrink))
        table.insert(scored, movie)
      end
    end
    call_with_list('ZADD', cbase .. ':mean', scored)
    call_with_list('ZREM', cbase .. ':mean', gone)
  end
  moved_means = {}
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

-- users whose state or cluster changed: a new revision each (one per call, never used
-- before), their cached recommendation lists dropped
local function touch_users(users)
  if #users == 0 then return end
  -- 'r' keeps these apart from the per-user counters earlier versions stored
  local revision = 'r' .. redis.call('INCR', base .. ':urev:seq')
  local revisions, rec_keys = {}, {}
  for _, user in ipairs(users) do
    table.insert(revisions, user)
    table.insert(revisions, revision)
    table.insert(rec_keys, base .. ':rec:' .. user)
  end
  call_with_list('HSET', base .. ':urev', revisions)
  call_with_list('DEL', nil, rec_keys)
end

-- apply decoded events; returns applied, skipped, users whose number of ratings changed.
-- What repeats across a batch is read or written once per batch (deletion marks, clusters,
-- membership, revisions, numbers of ratings), per user (log) or per cluster (means).
local function apply_events(events, now, keep_log, log_cap)
  local applied, skipped, changed_list = 0, 0, {}
  local seen, users, touched = {}, {}, {}
  for _, e in ipairs(events) do
    if not seen[e[2]] then
      seen[e[2]] = {d_n = 0, log = {}}
      table.insert(users, e[2])
    end
  end
  local deleted = hmget_list(base .. ':deleted', users)
  local clusters = {}
  for i, v in ipairs(versions) do clusters[i] = hmget_list(v.vbase .. ':assign', users) end
  for i, user in ipairs(users) do
    local info = seen[user]
    info.deleted = tonumber(deleted[i])
    info.clusters = {}
    for j = 1, #versions do info.clusters[j] = clusters[j][i] end
  end
  for _, e in ipairs(events) do
    local kind, user, movie, half, ts, eid = e[1], e[2], e[3], tonumber(e[4]), tonumber(e[5]), e[6]
    local ukey = base .. ':u:' .. user
    local info = seen[user]
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
      if not info.touched then info.touched = true; table.insert(touched, user) end
      local d_n = ((new_half > 0) and 1 or 0) - ((old_half > 0) and 1 or 0)
      local d_sum, d_fav = new_half - old_half, new_fav - old_fav
      bump_movie(movie, d_n, d_sum, d_fav)
      if d_n ~= 0 then
        if not info.changed then info.changed = true; table.insert(changed_list, user) end
        info.d_n = info.d_n + d_n
      end
      if d_n ~= 0 or d_sum ~= 0 or d_fav ~= 0 then
        bump_clusters(info.clusters, movie, d_n, d_sum, d_fav)
      end
      if keep_log then table.insert(info.log, cjson.encode({kind, movie, half, ts})) end
      applied = applied + 1
    end
  end
  if #touched == 0 then return applied, skipped, changed_list end
  call_with_list('SADD', base .. ':users', touched)
  touch_users(touched)
  local counts, updated = hmget_list(base .. ':nratings', changed_list), {}
  for i, user in ipairs(changed_list) do
    table.insert(updated, user)
    table.insert(updated, (tonumber(counts[i]) or 0) + seen[user].d_n)
  end
  call_with_list('HSET', base .. ':nratings', updated)
  if keep_log then
    for _, user in ipairs(touched) do
      local log = base .. ':u:' .. user .. ':log'
      call_with_list('LPUSH', log, seen[user].log)
      redis.call('LTRIM', log, 0, log_cap - 1)
    end
  end
  update_means()
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
  update_means()
  redis.call('DEL', ukey, ukey .. ':log')
  touch_users({user})
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
  local moved, moved_users = 0, {}
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
      table.insert(moved_users, user)
      moved = moved + 1
    end
  end
  touch_users(moved_users)
  update_means()
  return moved
end
return redis.error_reply('unknown command ' .. tostring(cmd))
