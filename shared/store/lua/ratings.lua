-- The ratings store's writes after the inbox, one script so that every path moves the derived
-- counters the same way. A user's state for one movie is "half|favourite|ts"; "0|0|ts" is a
-- tombstone. Per model version v, cluster c: counts / sums hashes (ratings, half stars),
-- favourites zset (favourite counts), means zset (cluster mean shrunk toward the movie's
-- baseline prior).
-- KEYS: the Keys properties named by the locals below, in that order. The names that depend on a
-- user, version or cluster (known only once the script has read them) come as the templates of
-- Keys.script_templates, JSON in ARGV[2], filled with string.format.
-- ARGV[1] command, ARGV[2] templates, ARGV[3] favourite threshold in half stars, the rest per
-- command.
local inbox, inbox_draining, users, user_counts, deleted_users, user_revisions,
      user_revision_sequence, applied_events, movie_counts, movie_sums, popular,
      active_version, building_version, events_applied, dead_letters = unpack(KEYS)
local cmd, templates, favourite_half_stars = ARGV[1], cjson.decode(ARGV[2]), tonumber(ARGV[3])

-- Counters are kept for the active version and for one being built beside it (the trainer's
-- swap), so the new version's counters are complete at the moment it becomes active.
local versions = {}
for _, pointer in ipairs({active_version, building_version}) do
  local v = redis.call('GET', pointer)
  if v and (not versions[1] or versions[1].name ~= v) then
    local params = redis.call('HMGET', string.format(templates.version_params, v), 'shrink', 'mu')
    table.insert(versions, {name = v, shrink = tonumber(params[1]) or 0,
                            mu = tonumber(params[2]) or 0,
                            priors = string.format(templates.movie_priors, v),
                            assignments = string.format(templates.assignments, v),
                            sizes = string.format(templates.cluster_sizes, v),
                            clusters = {}})
  end
end

-- the names of cluster c's keys under version v (and v itself), made once per call
local function cluster_keys(v, c)
  local cluster = v.clusters[c]
  if not cluster then
    cluster = {v = v,
               favourites = string.format(templates.cluster_favourites, v.name, c),
               counts = string.format(templates.cluster_counts, v.name, c),
               sums = string.format(templates.cluster_sums, v.name, c),
               means = string.format(templates.cluster_means, v.name, c)}
    v.clusters[c] = cluster
  end
  return cluster
end

local function parse(value)
  local h, f, t = string.match(value, '^(%d+)|(%d)|(.+)$')
  return tonumber(h), tonumber(f), tonumber(t)
end

-- redis.call(command, key, unpack(args)) in slices (Lua's unpack is limited to a few
-- thousand values); without key, redis.call(command, unpack(args)), as for DEL. A slice of
-- 1,000 keeps field-value pairs together.
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

-- HMGET (or ZMSCORE) of many fields, in slices; values aligned with fields (false when missing)
local function read_list(command, key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local part = redis.call(command, key, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end

local function hmget_list(key, fields)
  return read_list('HMGET', key, fields)
end

-- The counters a command moves (hashes of counts and sums, zsets of favourite counts) are
-- added up here and written once by write_counters, one read and one write per key however
-- many events moved it, instead of an HINCRBY or ZINCRBY per event: in batches of 1,000, 6 of
-- an event's 8 calls go and the append-only file grows 28 % less (docs/live-benchmark.md).
-- Within a script nothing else runs, so the read-add-write is atomic.
-- moves[key] = {zset = bool, fields = {field...} in first-move order, by = {field = delta}}
local moves, moved_keys = {}, {}

local function move(key, zset, field, delta)
  local m = moves[key]
  if not m then
    m = {zset = zset, fields = {}, by = {}}
    moves[key] = m
    table.insert(moved_keys, key)
  end
  local before = m.by[field]
  if before == nil then
    table.insert(m.fields, field)
    m.by[field] = delta
  else
    m.by[field] = before + delta
  end
end

local function bump_movie(movie, d_n, d_sum, d_fav)
  if d_n ~= 0 then move(movie_counts, false, movie, d_n) end
  if d_sum ~= 0 then move(movie_sums, false, movie, d_sum) end
  if d_fav ~= 0 then move(popular, true, movie, d_fav) end
end

-- Clusters (cluster_keys tables) whose counts or sums moved, in order and as a set: their
-- means are recomputed by write_counters (a movie's mean is written once however many of its
-- ratings the command moved)
local moved_clusters, cluster_moved = {}, {}

local function bump_cluster(v, c, movie, d_n, d_sum, d_fav)
  local cluster = cluster_keys(v, c)
  if d_fav ~= 0 then move(cluster.favourites, true, movie, d_fav) end
  if d_n == 0 and d_sum == 0 then return end
  if not cluster_moved[cluster] then
    cluster_moved[cluster] = true
    table.insert(moved_clusters, cluster)
  end
  move(cluster.counts, false, movie, d_n)
  move(cluster.sums, false, movie, d_sum)
end

-- every counter move of the command, then the means of the clusters they moved
local function write_counters()
  local written = {}  -- written[key][field] = the value now stored
  for _, key in ipairs(moved_keys) do
    local m = moves[key]
    local values = {}
    if #m.fields == 1 then  -- (a single event's command) one call, not a read and a write
      local field = m.fields[1]
      if m.zset then
        values[field] = tonumber(redis.call('ZINCRBY', key, m.by[field], field))
      else
        values[field] = redis.call('HINCRBY', key, field, m.by[field])
      end
    else
      local old = read_list(m.zset and 'ZMSCORE' or 'HMGET', key, m.fields)
      local args = {}
      for i, field in ipairs(m.fields) do
        local value = (tonumber(old[i]) or 0) + m.by[field]
        values[field] = value
        if m.zset then
          table.insert(args, value)
          table.insert(args, field)
        else
          table.insert(args, field)
          table.insert(args, string.format('%d', value))  -- as HINCRBY stores it
        end
      end
      call_with_list(m.zset and 'ZADD' or 'HSET', key, args)
    end
    written[key] = values
  end
  for _, cluster in ipairs(moved_clusters) do
    local v, movies = cluster.v, moves[cluster.counts].fields
    local counts, sums = written[cluster.counts], written[cluster.sums]
    local priors = hmget_list(v.priors, movies)
    local scored, gone = {}, {}
    for i, movie in ipairs(movies) do
      local n = counts[movie]
      if n <= 0 then
        table.insert(gone, movie)
      else
        local prior = tonumber(priors[i]) or v.mu
        table.insert(scored, (sums[movie] / 2 + v.shrink * prior) / (n + v.shrink))
        table.insert(scored, movie)
      end
    end
    call_with_list('ZADD', cluster.means, scored)
    call_with_list('ZREM', cluster.means, gone)
  end
  moves, moved_keys, moved_clusters, cluster_moved = {}, {}, {}, {}
end

local function bump_clusters(clusters, movie, d_n, d_sum, d_fav)
  for i, v in ipairs(versions) do
    if clusters[i] then bump_cluster(v, clusters[i], movie, d_n, d_sum, d_fav) end
  end
end

-- move every live entry of a user into (sign 1) or out of (sign -1) cluster c of version v
local function shift_user(v, user, c, sign)
  local entries = redis.call('HGETALL', string.format(templates.user, user))
  for i = 1, #entries, 2 do
    local half, fav = parse(entries[i + 1])
    if half > 0 or fav > 0 then
      bump_cluster(v, c, entries[i], sign * ((half > 0) and 1 or 0), sign * half, sign * fav)
    end
  end
end

-- users whose state or cluster changed: a new revision each (one per call, never used before),
-- their cached recommendation lists and live views (user_state.lua makes them again) dropped
local function touch_users(changed)
  if #changed == 0 then return end
  -- 'r' keeps these apart from the per-user counters earlier versions stored
  local revision = 'r' .. redis.call('INCR', user_revision_sequence)
  local revisions, derived = {}, {}
  for _, user in ipairs(changed) do
    table.insert(revisions, user)
    table.insert(revisions, revision)
    table.insert(derived, string.format(templates.recommendations_cache, user))
    table.insert(derived, string.format(templates.user_live, user))
  end
  call_with_list('HSET', user_revisions, revisions)
  call_with_list('DEL', nil, derived)
end

-- apply decoded events; returns applied, skipped, and for each user whose number of ratings
-- changed: user, number before, number after (a flat list).
-- What repeats across a batch is read or written once per batch (deletion marks, clusters,
-- membership, revisions, numbers of ratings, counters), per user (log) or per cluster (means).
local function apply_events(events, now, keep_log, log_cap)
  local applied, skipped, changed_list = 0, 0, {}
  local seen, batch_users, touched = {}, {}, {}
  for _, e in ipairs(events) do
    if not seen[e[2]] then
      seen[e[2]] = {d_n = 0, log = {}, key = string.format(templates.user, e[2])}
      table.insert(batch_users, e[2])
    end
  end
  local deleted = hmget_list(deleted_users, batch_users)
  local clusters = {}
  for i, v in ipairs(versions) do clusters[i] = hmget_list(v.assignments, batch_users) end
  for i, user in ipairs(batch_users) do
    local info = seen[user]
    info.deleted = tonumber(deleted[i])
    info.clusters = {}
    for j = 1, #versions do info.clusters[j] = clusters[j][i] end
  end
  for _, e in ipairs(events) do
    local kind, user, movie, half, ts, eid = e[1], e[2], e[3], tonumber(e[4]), tonumber(e[5]), e[6]
    local info = seen[user]
    local ukey = info.key
    local fresh = not (eid ~= '' and redis.call('ZADD', applied_events, 'NX', now, eid) == 0)
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
        new_half, new_fav = half, (half >= favourite_half_stars) and 1 or 0
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
  redis.call('INCRBY', events_applied, applied)
  call_with_list('SADD', users, touched)
  touch_users(touched)
  local counts, updated, changed = hmget_list(user_counts, changed_list), {}, {}
  for i, user in ipairs(changed_list) do
    local before = tonumber(counts[i]) or 0
    local after = before + seen[user].d_n
    table.insert(updated, user)
    table.insert(updated, after)
    table.insert(changed, user)
    table.insert(changed, before)
    table.insert(changed, after)
  end
  call_with_list('HSET', user_counts, updated)
  if keep_log then
    for _, user in ipairs(touched) do
      local log = string.format(templates.user_log, user)
      call_with_list('LPUSH', log, seen[user].log)
      redis.call('LTRIM', log, 0, log_cap - 1)
    end
  end
  write_counters()
  return applied, skipped, changed
end

if cmd == 'apply' then
  -- ARGV[4] now, ARGV[5] JSON [[type,user,movie,half,ts,event_id],...], ARGV[6] log?, ARGV[7] cap
  -- returns {applied, skipped, then user, ratings before, ratings after for each user whose
  -- number of ratings changed}
  local applied, skipped, changed = apply_events(cjson.decode(ARGV[5]), tonumber(ARGV[4]),
                                                 ARGV[6] == '1', tonumber(ARGV[7]))
  local result = {applied, skipped}
  for _, u in ipairs(changed) do table.insert(result, u) end
  return result

elseif cmd == 'drain' then
  -- ARGV[4] now, ARGV[5] most events, ARGV[6] log?, ARGV[7] cap, ARGV[8] release?, ARGV[9] claim
  -- milliseconds: take and apply the oldest events of the inbox in one step (a crash loses none);
  -- returns {applied, skipped, events left, then user, before, after as apply}; with
  -- release, the drain claim ends when the inbox is empty
  local items = redis.call('LRANGE', inbox, 0, tonumber(ARGV[5]) - 1)
  local events = {}
  for i, item in ipairs(items) do events[i] = cjson.decode(item) end
  local applied, skipped, changed = apply_events(events, tonumber(ARGV[4]), ARGV[6] == '1',
                                                 tonumber(ARGV[7]))
  redis.call('LTRIM', inbox, #items, -1)
  local left = redis.call('LLEN', inbox)
  if left == 0 and ARGV[8] == '1' then
    redis.call('DEL', inbox_draining)
  else
    redis.call('PEXPIRE', inbox_draining, tonumber(ARGV[9]))  -- still ours: renew
  end
  local result = {applied, skipped, left}
  for _, u in ipairs(changed) do table.insert(result, u) end
  return result

elseif cmd == 'dead_letter' then
  -- ARGV[4] the entry as JSON without its item, ARGV[5] the item that kept failing: move it,
  -- with the entry, to the dead letters when it is still at the head of the inbox (a drain
  -- beside this one may have moved it already), so the rest of the inbox flows on; returns
  -- 1 when it moved
  if redis.call('LINDEX', inbox, 0) ~= ARGV[5] then return 0 end
  local entry = cjson.decode(ARGV[4])
  entry.items = {ARGV[5]}
  redis.call('RPUSH', dead_letters, cjson.encode(entry))
  redis.call('LPOP', inbox)
  return 1

elseif cmd == 'delete_user' then
  -- ARGV[4] user, ARGV[5] ts: remove every trace; events up to ts are ignored from now on
  local user, ts = ARGV[4], tonumber(ARGV[5])
  local ukey = string.format(templates.user, user)
  for _, v in ipairs(versions) do
    local c = redis.call('HGET', v.assignments, user)
    if c then
      shift_user(v, user, c, -1)
      redis.call('HDEL', v.assignments, user)
      redis.call('HINCRBY', v.sizes, c, -1)
    end
  end
  local entries = redis.call('HGETALL', ukey)
  for i = 1, #entries, 2 do
    local half, fav = parse(entries[i + 1])
    bump_movie(entries[i], -((half > 0) and 1 or 0), -half, -fav)
  end
  write_counters()
  redis.call('DEL', ukey, string.format(templates.user_log, user))
  touch_users({user})
  redis.call('HDEL', user_counts, user)
  redis.call('SREM', users, user)
  local previous = tonumber(redis.call('HGET', deleted_users, user))
  if not previous or ts > previous then redis.call('HSET', deleted_users, user, ts) end
  return #entries / 2

elseif cmd == 'assign' then
  -- ARGV[4] version (the active one or the one being built), then pairs user, cluster:
  -- move users and their counts; -1 when that version is neither (the caller is stale)
  local v = nil
  for _, candidate in ipairs(versions) do
    if candidate.name == ARGV[4] then v = candidate end
  end
  if not v then return -1 end
  local moved, moved_users = 0, {}
  for i = 5, #ARGV, 2 do
    local user, c = ARGV[i], ARGV[i + 1]
    local old = redis.call('HGET', v.assignments, user)
    if old ~= c then
      if old then
        shift_user(v, user, old, -1)
        redis.call('HINCRBY', v.sizes, old, -1)
      end
      shift_user(v, user, c, 1)
      redis.call('HINCRBY', v.sizes, c, 1)
      redis.call('HSET', v.assignments, user, c)
      table.insert(moved_users, user)
      moved = moved + 1
    end
  end
  touch_users(moved_users)
  write_counters()
  return moved
end
return redis.error_reply('unknown command ' .. tostring(cmd))
