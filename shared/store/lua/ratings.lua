-- The writes of one partition of the ratings store, one script so that every path records the
-- changes to the derived counters the same way. A user's state for one movie is one letter and
-- ts: the letter is 'a' + half stars, upper case when favoured ('a'..'k', 'A'..'K'); ts to the
-- millisecond, without decimals when whole ("I964982703": 4 stars, favoured). "a<ts>" is a
-- tombstone. Entries written before this form ("half|favourite|ts") are read as they are and
-- rewritten in it when they change.
-- The counters over all users (per movie; per model version v and cluster c: counts, sums,
-- favourites, sizes, means) live in the movie's or the cluster's partition, out of this one's
-- slot: a call records what it changes as a delta, one entry per partition of counters it
-- moves, appended to this partition's deltas list, which merge.lua folds into them
-- (shared/store/deltas.py). A call returns the deltas not yet known to be merged.
-- KEYS: the partition's Keys named by the locals below, in that order. The names that depend on
-- a user or version (known only once the script has read them) come as the templates of
-- Keys.partition_templates, JSON in ARGV[2] (with the number of partitions), filled with
-- string.format.
-- ARGV[1] command, ARGV[2] templates, ARGV[3] favourite threshold in half stars, the rest per
-- command.
local inbox, users, user_counts, deleted_users, user_revisions, user_revision_sequence,
      applied_events, counted_versions, dead_letters, deltas, delta_sequence,
      events_applied = unpack(KEYS)
local cmd, templates, favourite_half_stars = ARGV[1], cjson.decode(ARGV[2]), tonumber(ARGV[3])
local partitions = templates.partitions

-- partition_of of shared/store/keys.py: ((id * 2654435761) mod 2^32) * partitions / 2^32, in
-- 16-bit halves so that every product stays exact in a double
local function partition_of(id)
  local n = tonumber(id) % 4294967296
  local low, high = n % 65536, math.floor(n / 65536)
  local mixed = (low * 31153 + ((high * 31153 + low * 40503) % 65536) * 65536) % 4294967296
  return math.floor(mixed * partitions / 4294967296)
end

-- The versions whose cluster counters this partition keeps: the active one and one being built
-- beside it (the trainer's swap), so the new version's counters are complete at the moment it
-- becomes active. A version being built is counted until its trainer stops renewing it.
-- (read by the calls that move counters, not by a drain that finds its inbox empty)
local versions = nil
local function load_versions()
  versions = {}
  local counted = redis.call('HGETALL', counted_versions)
  if #counted == 0 then return end
  local time = redis.call('TIME')
  local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  for i = 1, #counted, 2 do
    local until_ms = tonumber(counted[i + 1])
    if until_ms == 0 or until_ms > now_ms then
      table.insert(versions, {name = counted[i],
                              assignments = string.format(templates.assignments, counted[i])})
    end
  end
end

-- the version named, when this partition counts it (else nil)
local function counted_version(name)
  load_versions()
  for _, candidate in ipairs(versions) do
    if candidate.name == name then return candidate end
  end
end

-- an entry's half stars, favourite (0 or 1) and ts
local function parse(value)
  local letter = string.byte(value, 1)
  if letter >= 97 then return letter - 97, 0, tonumber(string.sub(value, 2)) end
  if letter >= 65 then return letter - 65, 1, tonumber(string.sub(value, 2)) end
  local h, f, t = string.match(value, '^(%d+)|(%d)|(.+)$')
  return tonumber(h), tonumber(f), tonumber(t)
end

local function entry(half, fav, ts)
  return string.format(ts == math.floor(ts) and '%s%d' or '%s%.3f',
                       string.char((fav == 1 and 65 or 97) + half), ts)
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

local function hmget_list(key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end

-- The call's changes to the counters over all users, added up here and recorded once, by the
-- partition p that holds the counters (the movie's, the cluster's):
-- delta[p].movies[movie] = {ratings, half stars, favourites};
-- delta[p].versions[v] = {sizes = {[c] = users}, clusters = {[c] = {[movie] = as movies}}};
-- delta[p].trend[bucket] = {[movie] = events} (see count_trending).
local delta, homes = {}, {}

local function home(id)
  local p = partition_of(id)
  local d = delta[p]
  if not d then
    d = {movies = {}, versions = {}}
    delta[p] = d
    table.insert(homes, p)
  end
  return d
end

local function add(into, movie, d_n, d_sum, d_fav)
  local m = into[movie]
  if m then
    m[1], m[2], m[3] = m[1] + d_n, m[2] + d_sum, m[3] + d_fav
  else
    into[movie] = {d_n, d_sum, d_fav}
  end
end

-- The trending counters: an applied event that makes a rating or a favourite appear counts once
-- for its movie in the bucket of its event time, an hour ('h' .. hours since 1970) and a day
-- ('d' .. days), while a window still reads that bucket: the last 24 hours read hours, the
-- last 7 days days (Keys.trending, CounterStore.trending).
local TREND_BUCKETS = {{'h', 3600, 86400}, {'d', 86400, 7 * 86400}}  -- name, size, window

local function count_trending(movie, ts, now)
  for _, b in ipairs(TREND_BUCKETS) do
    local n = math.floor(ts / b[2])
    if (n + 1) * b[2] + b[3] > now then
      local d = home(movie)
      d.trend = d.trend or {}
      local bucket = b[1] .. string.format('%d', n)
      local counts = d.trend[bucket]
      if not counts then
        counts = {}
        d.trend[bucket] = counts
      end
      counts[movie] = (counts[movie] or 0) + 1
    end
  end
end

local function version_delta(v, c)
  local versions_of_home = home(c).versions
  local d = versions_of_home[v.name]
  if not d then
    d = {sizes = {}, clusters = {}}
    versions_of_home[v.name] = d
  end
  return d
end

-- a movie's moves are added up here first, and put in their partition's delta once per movie
-- when the delta is recorded
local movie_moves, moved_movies = {}, {}

local function bump_movie(movie, d_n, d_sum, d_fav)
  if d_n == 0 and d_sum == 0 and d_fav == 0 then return end
  if not movie_moves[movie] then table.insert(moved_movies, movie) end
  add(movie_moves, movie, d_n, d_sum, d_fav)
end

local function bump_cluster(v, c, movie, d_n, d_sum, d_fav)
  local clusters = version_delta(v, c).clusters
  local cluster = clusters[c]
  if not cluster then
    cluster = {}
    clusters[c] = cluster
  end
  add(cluster, movie, d_n, d_sum, d_fav)
end

local function resize(v, c, d_users)
  local sizes = version_delta(v, c).sizes
  sizes[c] = (sizes[c] or 0) + d_users
end

-- drop the deltas up to sequence number ``through`` (merged: merge.lua said so); how many
local function forget(through)
  local dropped = 0
  while true do
    local head = redis.call('LINDEX', deltas, 0)
    if not head or tonumber(string.match(head, '^(%d+) ')) > through then return dropped end
    redis.call('LPOP', deltas)
    dropped = dropped + 1
  end
end

-- the deltas not yet merged, oldest first, after recording this call's (when it changed any
-- counter): '<sequence> <partition of the counters> <JSON>', an entry per partition
local function recorded_deltas()
  for _, movie in ipairs(moved_movies) do
    local m = movie_moves[movie]
    if m[1] ~= 0 or m[2] ~= 0 or m[3] ~= 0 then home(movie).movies[movie] = m end
  end
  if #homes > 0 then
    local seq = redis.call('INCR', delta_sequence)
    local entries = {}
    for i, p in ipairs(homes) do entries[i] = seq .. ' ' .. p .. ' ' .. cjson.encode(delta[p]) end
    call_with_list('RPUSH', deltas, entries)
  end
  return redis.call('LRANGE', deltas, 0, -1)
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
-- membership, revisions, numbers of ratings, the delta) or per user (log).
local function apply_events(events, now, keep_log, log_cap)
  local applied, skipped, changed_list = 0, 0, {}
  local seen, batch_users, touched = {}, {}, {}
  for _, e in ipairs(events) do
    local info = seen[e[2]]
    if not info then
      info = {d_n = 0, log = {}, key = string.format(templates.user, e[2]), movies = {},
              current = {}, written = {}}
      seen[e[2]] = info
      table.insert(batch_users, e[2])
    end
    if info.current[e[3]] == nil then
      info.current[e[3]] = false
      table.insert(info.movies, e[3])
    end
  end
  if #batch_users == 0 then return 0, 0, {} end
  load_versions()
  local deleted = hmget_list(deleted_users, batch_users)
  local clusters = {}
  for i, v in ipairs(versions) do clusters[i] = hmget_list(v.assignments, batch_users) end
  for i, user in ipairs(batch_users) do
    local info = seen[user]
    info.deleted = tonumber(deleted[i])
    info.clusters = {}
    for j = 1, #versions do info.clusters[j] = clusters[j][i] end
    -- the user's entries for the batch's movies, read once; kept current as events apply,
    -- and written once per user after the batch
    local values = hmget_list(info.key, info.movies)
    for j, movie in ipairs(info.movies) do info.current[movie] = values[j] end
  end
  for _, e in ipairs(events) do
    local kind, user, movie, half, ts, eid = e[1], e[2], e[3], tonumber(e[4]), tonumber(e[5]), e[6]
    local info = seen[user]
    local fresh = not (eid ~= '' and redis.call('ZADD', applied_events, 'NX', now, eid) == 0)
    if fresh and info.deleted and ts <= info.deleted then fresh = false end
    local old_half, old_fav, old_ts, old_raw = 0, 0, -1, nil
    if fresh then
      old_raw = info.current[movie]
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
      value = entry(new_half, new_fav, ts)
      if old_raw and value == entry(old_half, old_fav, old_ts) then fresh = false end
    end
    if not fresh then
      skipped = skipped + 1
    else
      info.current[movie] = value
      info.written[movie] = true
      if not info.touched then info.touched = true; table.insert(touched, user) end
      local d_n = ((new_half > 0) and 1 or 0) - ((old_half > 0) and 1 or 0)
      local d_sum, d_fav = new_half - old_half, new_fav - old_fav
      bump_movie(movie, d_n, d_sum, d_fav)
      if (old_half == 0 and new_half > 0) or (old_fav == 0 and new_fav == 1) then
        count_trending(movie, ts, now)
      end
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
  if #touched == 0 then return applied, skipped, {} end
  for _, user in ipairs(touched) do
    local info, entries = seen[user], {}
    for _, movie in ipairs(info.movies) do
      if info.written[movie] then
        table.insert(entries, movie)
        table.insert(entries, info.current[movie])
      end
    end
    call_with_list('HSET', info.key, entries)
  end
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
  return applied, skipped, changed
end

if cmd == 'apply' then
  -- ARGV[4] now, ARGV[5] JSON [[type,user,movie,half,ts,event_id],...], ARGV[6] log?, ARGV[7] cap
  -- returns {applied, skipped, 0, {user, ratings before, ratings after for each user whose
  -- number of ratings changed}, deltas}
  local applied, skipped, changed = apply_events(cjson.decode(ARGV[5]), tonumber(ARGV[4]),
                                                 ARGV[6] == '1', tonumber(ARGV[7]))
  return {applied, skipped, 0, changed, recorded_deltas()}

elseif cmd == 'drain' then
  -- ARGV[4] now, ARGV[5] most events, ARGV[6] log?, ARGV[7] cap, ARGV[8] the sequence number
  -- of the partition's last merged delta (0: unknown): forget the deltas up to it, then take
  -- and apply the oldest events of the inbox in one step (a crash loses none); returns as
  -- apply, with the events left in the inbox third
  forget(tonumber(ARGV[8]))
  local items = redis.call('LRANGE', inbox, 0, tonumber(ARGV[5]) - 1)
  local events = {}
  for i, item in ipairs(items) do events[i] = cjson.decode(item) end
  local applied, skipped, changed = apply_events(events, tonumber(ARGV[4]), ARGV[6] == '1',
                                                 tonumber(ARGV[7]))
  if #items > 0 then redis.call('LTRIM', inbox, #items, -1) end
  return {applied, skipped, redis.call('LLEN', inbox), changed, recorded_deltas()}

elseif cmd == 'create_users' then
  -- The users of a bulk import the store has never seen, written whole: no event is looked at
  -- one by one. ARGV[4] the number H of partitions the call's delta moves, then H pairs
  -- partition, JSON (the delta, by partition, that the caller added up from these ratings),
  -- then for each user: user, their n entries as one string 'movie entry movie entry ...'
  -- (one argument a user: far cheaper to send than 2n). When
  -- any of the users has state or was deleted, nothing is written and the reply is {-1, 0, 0,
  -- those users, deltas}: the caller sends them as events. Otherwise returns as apply (the
  -- entries written are the events applied).
  local first = 5 + 2 * tonumber(ARGV[4])
  local refused = {}
  for i = first, #ARGV, 2 do
    local user = ARGV[i]
    if redis.call('EXISTS', string.format(templates.user, user)) == 1
        or redis.call('HEXISTS', deleted_users, user) == 1 then
      table.insert(refused, user)
    end
  end
  if #refused > 0 then return {-1, 0, 0, refused, redis.call('LRANGE', deltas, 0, -1)} end
  local created, counts, applied = {}, {}, 0
  for i = first, #ARGV, 2 do
    local user, entries = ARGV[i], {}
    for token in string.gmatch(ARGV[i + 1], '%S+') do table.insert(entries, token) end
    call_with_list('HSET', string.format(templates.user, user), entries)
    table.insert(created, user)
    table.insert(counts, user)
    table.insert(counts, #entries / 2)
    applied = applied + #entries / 2
  end
  if #created == 0 then return {0, 0, 0, {}, redis.call('LRANGE', deltas, 0, -1)} end
  call_with_list('SADD', users, created)
  call_with_list('HSET', user_counts, counts)
  touch_users(created)
  redis.call('INCRBY', events_applied, applied)
  local seq, entries = redis.call('INCR', delta_sequence), {}
  for j = 5, first - 1, 2 do table.insert(entries, seq .. ' ' .. ARGV[j] .. ' ' .. ARGV[j + 1]) end
  if #entries > 0 then call_with_list('RPUSH', deltas, entries) end
  return {applied, 0, 0, {}, redis.call('LRANGE', deltas, 0, -1)}

elseif cmd == 'forget_deltas' then
  -- ARGV[4] a sequence number merge.lua answered: drop the deltas up to it; returns how many
  return forget(tonumber(ARGV[4]))

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
  -- ARGV[4] user, ARGV[5] ts: remove every trace; events up to ts are ignored from now on.
  -- Returns {entries removed, deltas}
  local user, ts = ARGV[4], tonumber(ARGV[5])
  local ukey = string.format(templates.user, user)
  load_versions()
  for _, v in ipairs(versions) do
    local c = redis.call('HGET', v.assignments, user)
    if c then
      shift_user(v, user, c, -1)
      redis.call('HDEL', v.assignments, user)
      resize(v, c, -1)
    end
  end
  local entries = redis.call('HGETALL', ukey)
  for i = 1, #entries, 2 do
    local half, fav = parse(entries[i + 1])
    bump_movie(entries[i], -((half > 0) and 1 or 0), -half, -fav)
  end
  redis.call('DEL', ukey, string.format(templates.user_log, user))
  touch_users({user})
  redis.call('HDEL', user_counts, user)
  redis.call('SREM', users, user)
  local previous = tonumber(redis.call('HGET', deleted_users, user))
  if not previous or ts > previous then redis.call('HSET', deleted_users, user, ts) end
  return {#entries / 2, recorded_deltas()}

elseif cmd == 'assign' then
  -- ARGV[4] version (the active one or the one being built), then pairs user, cluster:
  -- move users and their counts; returns {users moved, deltas}, or {-1, deltas} when the
  -- partition counts no such version (the caller is stale)
  local v = counted_version(ARGV[4])
  if not v then return {-1, recorded_deltas()} end
  local moved, moved_users = 0, {}
  for i = 5, #ARGV, 2 do
    local user, c = ARGV[i], ARGV[i + 1]
    local old = redis.call('HGET', v.assignments, user)
    if old ~= c then
      if old then
        shift_user(v, user, old, -1)
        resize(v, old, -1)
      end
      shift_user(v, user, c, 1)
      resize(v, c, 1)
      redis.call('HSET', v.assignments, user, c)
      table.insert(moved_users, user)
      moved = moved + 1
    end
  end
  touch_users(moved_users)
  return {moved, recorded_deltas()}

elseif cmd == 'seed' then
  -- ARGV[4] version (the active one or the one being built), then pairs user, cluster: place
  -- each user who has no cluster under the version yet, moving no counter: the caller adds
  -- the entries returned, as they are at this instant, to the version's counters
  -- (shared/store/seeding.py), and the events after it move them as for any placed user.
  -- Returns {users placed, their entries' numbers ('n n ...'), their movies ('m m ...'),
  -- the entries' letters (a byte each, as entry writes them), deltas}, or {-1, deltas} when
  -- the partition counts no such version (the caller is stale)
  local v = counted_version(ARGV[4])
  if not v then return {-1, recorded_deltas()} end
  local placed, numbers, movies, letters = {}, {}, {}, {}
  for i = 5, #ARGV, 2 do
    local user = ARGV[i]
    if redis.call('HSETNX', v.assignments, user, ARGV[i + 1]) == 1 then
      local entries, n = redis.call('HGETALL', string.format(templates.user, user)), 0
      for j = 1, #entries, 2 do
        local half, fav = parse(entries[j + 1])
        if half > 0 or fav > 0 then
          n = n + 1
          movies[#movies + 1] = entries[j]
          letters[#letters + 1] = string.char((fav == 1 and 65 or 97) + half)
        end
      end
      placed[#placed + 1] = user
      numbers[#numbers + 1] = n
    end
  end
  touch_users(placed)
  return {placed, table.concat(numbers, ' '), table.concat(movies, ' '), table.concat(letters),
          recorded_deltas()}
end
return redis.error_reply('unknown command ' .. tostring(cmd))
