-- The workers' heartbeats, timed by Redis's clock so that machines' clocks do not matter.
-- KEYS: Keys.workers (sorted set name -> last beat). ARGV[1] 'beat' or 'alive', ARGV[2]
-- seconds a beat counts; 'beat' also takes ARGV[3] the worker's name.
-- beat: record one, and forget the workers silent for 100 windows; returns 1.
-- alive: the names of the workers that beat within the last ARGV[2] seconds.
local workers = unpack(KEYS)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local window = tonumber(ARGV[2])
if ARGV[1] == 'beat' then
  redis.call('ZADD', workers, now, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', workers, '-inf', now - 100 * window)
  return 1
end
return redis.call('ZRANGEBYSCORE', workers, now - window, '+inf')
