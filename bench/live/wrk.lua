-- wrk script of python -m bench.live:
--   wrk ... -s wrk.lua http://127.0.0.1:PORT/ -- MODE [IDS_FILE [API_KEY]]
--   hello            GET / (the hello-world reference)
--   recommendations  GET /v1/users/<random user>/recommendations?n=10
--   computed         the same with n from 6..15 (VARIED_N in bench/live/settings.py): every
--                    (user, n) pair once, in a shuffled order, before any pair repeats, so that
--                    no request is answered from the API's cache while the pairs last
--                    (bench/live/load.py counts the requests beyond them)
--   event            POST /v1/events, one rating event of a random movie by a random user
--                    outside the data set (ids from 10,000,001), so that the cached answers
--                    of the users the GET runs ask for stay valid
-- IDS_FILE: the users the cache-warm runs ask for (the data's, at most CACHED_USERS of them),
-- the movie ids, and the users computed runs ask for (the data's and their copies, USER_COPIES
-- in bench/live/settings.py), a line each, separated by spaces.
-- API_KEY goes in header X-API-Key of every request (the hello world's too, which ignores it).
-- done() prints one line "WRK_JSON {...}" (latencies in microseconds) for bench/live/load.py.

local mode, users, movies, computed_users = "hello", {}, {}, {}
local pairs_order, next_pair = {}, 0
local headers, json_headers = {}, { ["Content-Type"] = "application/json" }

local function read_ids(line, out)
  for id in (line or ""):gmatch("%d+") do out[#out + 1] = id end
end

function init(args)
  mode = args[1] or "hello"
  -- a table given to wrk.format replaces wrk.headers (-H, e.g. Connection: close): merge them
  for name, value in pairs(wrk.headers) do
    headers[name], json_headers[name] = value, value
  end
  if args[3] then
    headers["X-API-Key"], json_headers["X-API-Key"] = args[3], args[3]
  end
  if args[2] then
    local f = assert(io.open(args[2], "r"))
    read_ids(f:read("*l"), users)
    read_ids(f:read("*l"), movies)
    read_ids(f:read("*l"), computed_users)
    f:close()
  end
  if mode ~= "hello" and #users == 0 then error("mode " .. mode .. " needs an ids file") end
  math.randomseed(os.time())
  if mode == "computed" then
    for _, id in ipairs(computed_users) do
      for n = 6, 15 do pairs_order[#pairs_order + 1] = {id, n} end
    end
    for i = #pairs_order, 2, -1 do  -- Fisher-Yates
      local j = math.random(i)
      pairs_order[i], pairs_order[j] = pairs_order[j], pairs_order[i]
    end
  end
end

local function user()
  return users[math.random(#users)]
end

function request()
  if mode == "recommendations" then
    return wrk.format("GET", "/v1/users/" .. user() .. "/recommendations?n=10", headers)
  elseif mode == "computed" then
    next_pair = next_pair % #pairs_order + 1
    local pair = pairs_order[next_pair]
    return wrk.format("GET", "/v1/users/" .. pair[1] .. "/recommendations?n=" .. pair[2],
                      headers)
  elseif mode == "event" then
    local body = string.format('{"type":"rating","user_id":%d,"movie_id":%s,"rating":%.1f}',
      10000000 + math.random(1000000), movies[math.random(#movies)], math.random(1, 10) / 2)
    return wrk.format("POST", "/v1/events", json_headers, body)
  end
  return wrk.format("GET", "/", headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
end
