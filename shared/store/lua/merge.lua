-- Fold deltas (ratings.lua) into the counters one partition holds over all users: per movie
-- of the partition (counts, sums, favourites) and per version v and cluster c of the partition
-- (sizes, counts, sums, favourites, means: the cluster mean shrunk toward the movie's baseline
-- prior), and the trending buckets of the partition's movies (ratings.lua's count_trending),
-- each set to expire once no window reads it. A delta is folded once: the last sequence number merged of each partition of users
-- is kept, and a delta at or below it is passed over, so a delta sent twice (a worker died
-- before ratings.lua forgot it) changes nothing. Deltas for a version the partition does not
-- count (Keys.counted_versions: neither active nor being built) are passed over too: nothing
-- keeps such counters (a retired version, a dead trainer's).
-- KEYS: the partition's Keys.movie_counts, movie_sums, popular, merged_deltas,
-- counted_versions. ARGV[1] the templates of Keys.partition_templates (JSON), then pairs
-- partition of users, delta entry ('<sequence> <this partition> <JSON>'), each partition's
-- in sequence order.
-- Returns partition, last merged sequence number, for each partition named.
local movie_counts, movie_sums, popular, merged_deltas, counted_versions = unpack(KEYS)
local templates = cjson.decode(ARGV[1])

local kept = {}
local counted = redis.call('HGETALL', counted_versions)
if #counted > 0 then
  local time = redis.call('TIME')
  local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  for i = 1, #counted, 2 do
    local until_ms = tonumber(counted[i + 1])
    if until_ms == 0 or until_ms > now_ms then kept[counted[i]] = true end
  end
end

-- redis.call(command, key, unpack(args)) in slices (Lua's unpack is limited to a few
-- thousand values). A slice of 1,000 keeps field-value pairs together.
local function call_with_list(command, key, args)
  for i = 1, #args, 1000 do
    redis.call(command, key, unpack(args, i, math.min(i + 999, #args)))
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

-- The moves to the counters, added up over every delta of the call and written once per key:
-- moves[key] = {zset = bool, fields = {field...} in first-move order, by = {field = delta}}
-- (a sorted set, a ranking, keeps no member at 0: a movie no longer favoured leaves it; one below
-- 0 stays, as a seeding can fold the events after a user was placed before the user's totals)
local moves, moved_keys = {}, {}

local function move(key, zset, field, d)
  local m = moves[key]
  if not m then
    m = {zset = zset, fields = {}, by = {}}
    moves[key] = m
    table.insert(moved_keys, key)
  end
  local before = m.by[field]
  if before == nil then
    table.insert(m.fields, field)
    m.by[field] = d
  else
    m.by[field] = before + d
  end
end

-- the clusters whose counts or sums moved, as {version, cluster, counts key, sums key}
local moved_clusters, cluster_moved, params = {}, {}, {}

local function move_cluster(v, c, movie, d)
  local counts = string.format(templates.cluster_counts, v, c)
  if d[3] ~= 0 then
    move(string.format(templates.cluster_favourites, v, c), true, movie, d[3])
  end
  if d[1] == 0 and d[2] == 0 then return end
  if not cluster_moved[counts] then
    cluster_moved[counts] = true
    table.insert(moved_clusters, {v = v, c = c, counts = counts,
                                  sums = string.format(templates.cluster_sums, v, c)})
  end
  move(counts, false, movie, d[1])
  move(string.format(templates.cluster_sums, v, c), false, movie, d[2])
end

-- when a trending bucket ('h' .. hours or 'd' .. days since 1970) leaves the longest window
-- that reads it: 24 hours after an hour's end, 7 days after a day's
local function bucket_expiry(bucket)
  local n = tonumber(string.sub(bucket, 2))
  if string.sub(bucket, 1, 1) == 'h' then return (n + 1) * 3600 + 86400 end
  return (n + 1) * 86400 + 7 * 86400
end
local trending_keys, trending_expiry = {}, {}

local merged, order = {}, {}
for i = 2, #ARGV, 2 do
  local partition, text = ARGV[i], ARGV[i + 1]
  if merged[partition] == nil then
    merged[partition] = tonumber(redis.call('HGET', merged_deltas, partition)) or 0
    table.insert(order, partition)
  end
  local seq, body = string.match(text, '^(%d+) %d+ (.*)$')
  seq = tonumber(seq)
  if seq > merged[partition] then
    merged[partition] = seq
    local delta = cjson.decode(body)
    for movie, d in pairs(delta.movies) do
      if d[1] ~= 0 then move(movie_counts, false, movie, d[1]) end
      if d[2] ~= 0 then move(movie_sums, false, movie, d[2]) end
      if d[3] ~= 0 then move(popular, true, movie, d[3]) end
    end
    for v, changes in pairs(delta.versions) do
      if kept[v] then
        local sizes = string.format(templates.cluster_sizes, v)
        for c, d_users in pairs(changes.sizes) do
          if d_users ~= 0 then move(sizes, false, c, d_users) end
        end
        for c, movies in pairs(changes.clusters) do
          for movie, d in pairs(movies) do move_cluster(v, c, movie, d) end
        end
      end
    end
    for bucket, movies in pairs(delta.trend or {}) do
      local key = string.format(templates.trending, bucket)
      if not trending_expiry[key] then
        trending_expiry[key] = bucket_expiry(bucket)
        table.insert(trending_keys, key)
      end
      for movie, n in pairs(movies) do move(key, true, movie, n) end
    end
  end
end


local written = {}  -- written[key][field] = the value now stored
for _, key in ipairs(moved_keys) do
  local m = moves[key]
  local values = {}
  if #m.fields == 1 then  -- one call, not a read and a write
    local field = m.fields[1]
    if m.zset then
      values[field] = tonumber(redis.call('ZINCRBY', key, m.by[field], field))
      if values[field] == 0 then redis.call('ZREM', key, field) end
    else
      values[field] = redis.call('HINCRBY', key, field, m.by[field])
    end
  else
    local old = read_list(m.zset and 'ZMSCORE' or 'HMGET', key, m.fields)
    local args, gone = {}, {}
    for i, field in ipairs(m.fields) do
      local value = (tonumber(old[i]) or 0) + m.by[field]
      values[field] = value
      if m.zset and value == 0 then
        table.insert(gone, field)
      elseif m.zset then
        table.insert(args, value)
        table.insert(args, field)
      else
        table.insert(args, field)
        table.insert(args, string.format('%d', value))  -- as HINCRBY stores it
      end
    end
    call_with_list(m.zset and 'ZADD' or 'HSET', key, args)
    call_with_list('ZREM', key, gone)
  end
  written[key] = values
end

for _, cluster in ipairs(moved_clusters) do
  local v = cluster.v
  if not params[v] then
    local p = redis.call('HMGET', string.format(templates.version_params, v), 'shrink', 'mu')
    params[v] = {shrink = tonumber(p[1]) or 0, mu = tonumber(p[2]) or 0,
                 priors = string.format(templates.movie_priors, v)}
  end
  local shrink, mu = params[v].shrink, params[v].mu
  local movies = moves[cluster.counts].fields
  local counts, sums = written[cluster.counts], written[cluster.sums]
  local priors = read_list('HMGET', params[v].priors, movies)
  local scored, gone = {}, {}
  for i, movie in ipairs(movies) do
    local n = counts[movie]
    if n <= 0 then
      table.insert(gone, movie)
    else
      local prior = tonumber(priors[i]) or mu
      table.insert(scored, (sums[movie] / 2 + shrink * prior) / (n + shrink))
      table.insert(scored, movie)
    end
  end
  local means = string.format(templates.cluster_means, v, cluster.c)
  call_with_list('ZADD', means, scored)
  call_with_list('ZREM', means, gone)
end

for _, key in ipairs(trending_keys) do redis.call('EXPIREAT', key, trending_expiry[key]) end

local reply = {}
for _, partition in ipairs(order) do
  redis.call('HSET', merged_deltas, partition, merged[partition])
  table.insert(reply, partition)
  table.insert(reply, merged[partition])
end
return reply
