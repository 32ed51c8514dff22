-- Append events to the inbox: the API's write path, one call per request.
-- KEYS: Keys.inbox, Keys.inbox_draining. ARGV[1] milliseconds a drain claim lasts, ARGV[2..] events
-- as JSON. Returns 1 when no drain was under way, so the caller must enqueue a drain job.
local inbox, inbox_draining = unpack(KEYS)
redis.call('RPUSH', inbox, unpack(ARGV, 2))
if redis.call('SET', inbox_draining, 1, 'NX', 'PX', tonumber(ARGV[1])) then
  return 1
end
return 0
