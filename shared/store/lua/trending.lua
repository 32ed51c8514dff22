-- The head of a trending window over one partition's buckets: their counts summed with their
-- weights into a scratch key of the partition, its first ARGV[1] movies read, the key dropped
-- at once. Reading the head here rather than the whole union keeps a window's read bounded
-- however many movies had events (ZUNION would send them all).
-- KEYS: the scratch key (Keys.trending(partition, 'sum')), then the window's buckets.
-- ARGV[1] how many movies; then each bucket's weight, in the order of KEYS.
-- Returns movie, events, movie, events... most first (ties: the id's bytes, last first;
-- the weights make later events count a little more, so that ties are rare).
local scratch = KEYS[1]
local args = {scratch, #KEYS - 1}
for i = 2, #KEYS do args[#args + 1] = KEYS[i] end
args[#args + 1] = 'WEIGHTS'
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
-- a scratch key written and dropped in one call: nothing for the append-only file or replicas
-- (fakeredis's Lua has no set_repl)
if redis.set_repl then redis.set_repl(redis.REPL_NONE) end
redis.call('ZUNIONSTORE', unpack(args))
local head = redis.call('ZREVRANGE', scratch, 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
redis.call('DEL', scratch)
return head
