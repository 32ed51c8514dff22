-- Add the requests an API process admitted to the shared rate-limit counters.
-- KEYS: the counters (names from Keys.rate_limit_counter). ARGV: for each, the requests to add
-- and the seconds the counter lives (its window). Returns each counter's new total.
local totals = {}
for i, counter in ipairs(KEYS) do
  local added = tonumber(ARGV[2 * i - 1])
  local total = redis.call('INCRBY', counter, added)
  if total == added then redis.call('EXPIRE', counter, tonumber(ARGV[2 * i])) end
  totals[i] = total
end
return totals
