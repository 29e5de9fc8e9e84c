--[[
Remove periodic tasks from the schedule, or put them back (an operator's explicit decision).

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] periodic    ZSET    task -> next due time of its tick
KEYS[3] every       HASH    task -> period in ms
KEYS[4] alive       ZSET    task -> until when a live worker vouches for it
KEYS[5] paused      SET     tasks an operator removed: not registered again until resumed

ARGV[1]             schema version expected by the caller
ARGV[2]             'remove', or 'resume' (live workers that declare the task register it again)
ARGV[3..]           task names

Returns {0, changed}: how many tasks were removed from the schedule, or resumed
        {-1, stored}        schema mismatch: nothing done
]]
--- @include "prelude"
--- @include "schema_guard"

local changed = 0
for i = 3, #ARGV do
  if ARGV[2] == 'remove' then
    redis.call('SADD', KEYS[5], ARGV[i])
    changed = changed + redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('ZREM', KEYS[4], ARGV[i])
  else
    changed = changed + redis.call('SREM', KEYS[5], ARGV[i])
  end
end
return {0, changed}
