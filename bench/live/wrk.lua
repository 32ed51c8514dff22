-- wrk script of python -m bench.live:
--   wrk ... -s wrk.lua http://127.0.0.1:PORT/ -- MODE [IDS_FILE [API_KEY [FILE]]]
--   hello            GET / (the hello-world reference)
--   recommendations  GET /v1/users/<random user>/recommendations?n=10
--   computed         the same with n from 6..15 (VARIED_N in bench/live/settings.py): every
--                    (user, n) pair once, in a shuffled order, before any pair repeats, so that
--                    no request is answered from the API's cache while the pairs last
--                    (bench/live/load.py counts the requests beyond them)
--   genre            a genre row, GET /v1/users/<user>/recommendations?n=<n>&genre=<genre>,
--                    every (user, n) pair once as in computed, over the users of FILE (lines
--                    "user genre", the genre URL-quoted: the user's most-rated genre)
--   rows             the home screen, GET /v1/users/<user>/rows?n=<n>, every (user, n) pair
--                    once as in computed, over the computed runs' users
--   guest            POST /v1/recommendations?n=10 with a body of FILE (a JSON body a line:
--                    a data user's ratings), drawn at random (nothing is cached for guests)
--   event            POST /v1/events, one rating event of a random movie by a random user
--                    outside the data set (ids from 10,000,001), so that the cached answers
--                    of the users the GET runs ask for stay valid
-- IDS_FILE: the users the cache-warm runs ask for (the data's, at most CACHED_USERS of them),
-- the movie ids, and the users computed runs ask for (the data's and their copies, USER_COPIES
-- in bench/live/settings.py), a line each, separated by spaces.
-- API_KEY goes in header X-API-Key of every request (the hello world's too, which ignores it).
-- FILE: what the genre and guest modes read beside IDS_FILE (written by bench/live/lists.py).
-- done() prints one line "WRK_JSON {...}" (latencies in microseconds) for bench/live/load.py.

local mode, users, movies, computed_users = "hello", {}, {}, {}
local pairs_order, next_pair = {}, 0
local genre_users, genre_of, guest_bodies = {}, {}, {}
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
  if mode == "genre" or mode == "guest" then
    local f = assert(io.open(assert(args[4], "mode " .. mode .. " needs its FILE"), "r"))
    for line in f:lines() do
      if mode == "genre" then
        local id, genre = line:match("^(%d+) (%S+)$")
        if id then genre_users[#genre_users + 1], genre_of[id] = id, genre end
      elseif #line > 0 then
        guest_bodies[#guest_bodies + 1] = line
      end
    end
    f:close()
    if #genre_users + #guest_bodies == 0 then error("nothing to ask for in " .. args[4]) end
  end
  math.randomseed(os.time())
  if mode == "computed" or mode == "genre" or mode == "rows" then
    for _, id in ipairs(mode == "genre" and genre_users or computed_users) do
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
  elseif mode == "genre" then
    next_pair = next_pair % #pairs_order + 1
    local pair = pairs_order[next_pair]
    return wrk.format("GET", "/v1/users/" .. pair[1] .. "/recommendations?n=" .. pair[2] ..
                      "&genre=" .. genre_of[pair[1]], headers)
  elseif mode == "rows" then
    next_pair = next_pair % #pairs_order + 1
    local pair = pairs_order[next_pair]
    return wrk.format("GET", "/v1/users/" .. pair[1] .. "/rows?n=" .. pair[2], headers)
  elseif mode == "guest" then
    return wrk.format("POST", "/v1/recommendations?n=10", json_headers,
                      guest_bodies[math.random(#guest_bodies)])
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
