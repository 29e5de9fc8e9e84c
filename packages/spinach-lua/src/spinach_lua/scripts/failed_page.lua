--[[
Read one page of a queue's failed jobs, newest first, read-only.

KEYS
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  jobs        HASH    id -> record of the job (see the record include)

ARGV
  offset      how many newer failed jobs to skip
  limit       most jobs to return (a page: never the whole store at once)

REPLY
  ids         ids of the page's jobs, newest first
  records     the record of each (false if gone; see the record include)
]]
--- @include "prelude"

local first = tonumber(ARG.offset)
local ids = redis.call('ZREVRANGE', KEY.failed_index, first, first + tonumber(ARG.limit) - 1)
return reply{ids = ids, records = hmget_sliced(KEY.jobs, ids)}
