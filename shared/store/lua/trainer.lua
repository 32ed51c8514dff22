-- The trainer lock and what only its holder may do. The lock's value is its holder's token;
-- the building pointer (which version the ratings script keeps counters for beside the active
-- one) expires with the lock, so a killed trainer's version stops being updated on its own.
-- KEYS: Keys.trainer_lock, Keys.building_version, Keys.active_version, Keys.version_states.
-- ARGV[1] command, ARGV[2] token, then per command:
--   acquire ttl_ms               take the lock when nobody holds it
--   renew ttl_ms                 extend the lock and the building pointer
--   build version ttl_ms         point the ratings script at version (counters built beside)
--   flip version                 make version active, stop building it, mark it published
--   release                      give the lock up
-- Every command but acquire does nothing and returns 0 unless the token still holds the lock.
local trainer_lock, building_version, active_version, version_states = unpack(KEYS)
local cmd, token = ARGV[1], ARGV[2]

if cmd == 'acquire' then
  return redis.call('SET', trainer_lock, token, 'NX', 'PX', tonumber(ARGV[3])) and 1 or 0
end
if redis.call('GET', trainer_lock) ~= token then return 0 end
if cmd == 'renew' then
  redis.call('PEXPIRE', trainer_lock, tonumber(ARGV[3]))
  redis.call('PEXPIRE', building_version, tonumber(ARGV[3]))
elseif cmd == 'build' then
  redis.call('SET', building_version, ARGV[3], 'PX', tonumber(ARGV[4]))
elseif cmd == 'flip' then
  redis.call('SET', active_version, ARGV[3])
  redis.call('DEL', building_version)
  redis.call('HSET', version_states, ARGV[3], 'published')
elseif cmd == 'release' then
  redis.call('DEL', trainer_lock)
  redis.call('DEL', building_version)
end
return 1
