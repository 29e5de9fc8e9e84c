--[[
Remove workflow signals a relay has applied from the queue's outbox (see the workflow include).

KEYS
  outbox      LIST    signals of ended workflow steps, to relay

ARGV
  signals*    the signals applied, as the outbox holds them

REPLY
  removed     how many were still there
]]
--- @include "prelude"

local removed = 0
for i = ARG.signals, ARG.signals + ARG.signals_n - 1 do
  removed = removed + redis.call('LREM', KEY.outbox, 1, ARGV[i])
end
return reply{removed = removed}
