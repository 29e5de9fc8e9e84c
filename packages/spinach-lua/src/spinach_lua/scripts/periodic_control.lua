--[[
Remove periodic tasks from the schedule, or put them back (an operator's explicit decision).

KEYS
  periodic    ZSET    task -> next due time of its tick
  periodic_every  HASH  task -> period in ms
  periodic_alive  ZSET  task -> until when a live worker vouches for it
  periodic_paused  SET  tasks an operator removed: not registered again until resumed

ARGV
  action      'remove', or 'resume' (live workers that declare the task register it again)
  names*      task names

REPLY
  changed     how many tasks were removed from the schedule, or resumed
]]
--- @include "prelude"

local changed = 0
for i = ARG.names, ARG.names + ARG.names_n - 1 do
  local task = ARGV[i]
  if ARG.action == 'remove' then
    redis.call('SADD', KEY.periodic_paused, task)
    changed = changed + redis.call('ZREM', KEY.periodic, task)
    redis.call('HDEL', KEY.periodic_every, task)
    redis.call('ZREM', KEY.periodic_alive, task)
  else
    changed = changed + redis.call('SREM', KEY.periodic_paused, task)
  end
end
return reply{changed = changed}
