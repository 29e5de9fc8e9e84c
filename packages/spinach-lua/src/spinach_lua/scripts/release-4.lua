--[[
Hand jobs a worker fetched but never started back to the head of their queue, in their order.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] running     ZSET    ids of running jobs (score: lease deadline ms)
KEYS[3] ready       LIST    ids of jobs ready to run, oldest first
KEYS[4] wake        LIST    wake-up token for idle workers of this queue

ARGV[1]             schema version expected by the caller
ARGV[2..]           ids, in the order they were fetched

Only jobs still recorded as running are handed back, so a re-sent call changes nothing twice.

Returns {0, released}
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"

local err = schema_error(KEYS[1], ARGV[1])
if err then
  return err
end

local released = 0
for i = #ARGV, 2, -1 do
  if redis.call('ZREM', KEYS[2], ARGV[i]) == 1 then
    redis.call('LPUSH', KEYS[3], ARGV[i])
    released = released + 1
  end
end
if released > 0 then
  ensure_wake_token(KEYS[4])
end
return {0, released}
