"""The Lua scripts behind shared presence (`shared.py`), one per change.

Redis runs a script as one step, so when two processes change one user at once exactly
one of them sees the count go 0 → 1 (or 1 → 0) and announces it.

The keys (PREFIX = `sendapp:presence:`): PREFIX`users` (hash user id → sockets in every
process), PREFIX`procs` (set of process tokens), PREFIX`proc:`TOKEN (hash user id →
sockets in that process) and PREFIX`alive:`TOKEN (the process's heartbeat, with a TTL).
REAP builds the per-process key names itself: fine on one Redis server, not on a cluster.
"""

# KEYS: proc hash, users hash, procs set. ARGV: user id, process token. → 1 if first anywhere.
CONNECT = """
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if redis.call('HINCRBY', KEYS[2], ARGV[1], 1) == 1 then return 1 end
return 0
"""

# KEYS: proc hash, users hash. ARGV: user id. → 1 if it was the user's last socket anywhere.
# A socket this process no longer has counted (its entries were reaped) changes nothing.
DISCONNECT = """
local mine = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if mine <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
if mine < 0 then return 0 end
local total = redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
if total <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"""

# Make this process's entries exactly its local counts and renew its heartbeat.
# KEYS: alive key, proc hash, users hash, procs set.
# ARGV: process token, TTL in ms, then user id, count, user id, count, …
# → user id, 1 (came online) or 0 (went offline), … for every user whose total crossed 0.
SYNC = """
local wanted, had, changes = {}, {}, {}
for i = 3, #ARGV, 2 do wanted[ARGV[i]] = tonumber(ARGV[i + 1]) end
local flat = redis.call('HGETALL', KEYS[2])
for i = 1, #flat, 2 do had[flat[i]] = tonumber(flat[i + 1]) end
local function adjust(user, delta)
  if delta == 0 then return end
  local total = redis.call('HINCRBY', KEYS[3], user, delta)
  local before = total - delta
  if total <= 0 then
    redis.call('HDEL', KEYS[3], user)
    if before > 0 then table.insert(changes, user); table.insert(changes, 0) end
  elseif before <= 0 then
    table.insert(changes, user); table.insert(changes, 1)
  end
end
for user, n in pairs(wanted) do adjust(user, n - (had[user] or 0)) end
for user, n in pairs(had) do
  if wanted[user] == nil then adjust(user, -n) end
end
redis.call('DEL', KEYS[2])
for user, n in pairs(wanted) do redis.call('HSET', KEYS[2], user, n) end
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
return changes
"""

# Remove the entries of every process whose heartbeat expired (crashed, or cut off).
# KEYS: procs set, users hash. ARGV: alive key prefix, proc hash prefix.
# → the user ids that went offline (their total reached 0).
REAP = """
local gone = {}
for _, proc in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. proc) == 0 then
    local flat = redis.call('HGETALL', ARGV[2] .. proc)
    for i = 1, #flat, 2 do
      local n = tonumber(flat[i + 1])
      local total = redis.call('HINCRBY', KEYS[2], flat[i], -n)
      if total <= 0 then
        redis.call('HDEL', KEYS[2], flat[i])
        if total + n > 0 then table.insert(gone, flat[i]) end
      end
    end
    redis.call('DEL', ARGV[2] .. proc)
    redis.call('SREM', KEYS[1], proc)
  end
end
return gone
"""
