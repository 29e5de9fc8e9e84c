--[[
Read one page of a queue's failed jobs, newest first, read-only.

KEYS
  schema      STRING  schema version of this queue's data
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store

ARGV
  version     schema version expected by the caller
  offset      how many newer failed jobs to skip
  limit       most jobs to return (a page: never the whole store at once)

REPLY
  ids         ids of the page's jobs, newest first
  records     the record of each, as field, value, field, value...
]]
--- @include "prelude"
--- @include "record"
--- @include "schema_peek"

local first = tonumber(ARG.offset)
local ids = redis.call('ZREVRANGE', KEY.failed_index, first, first + tonumber(ARG.limit) - 1)
local records = {}
for n, id in ipairs(ids) do
  records[n] = redis.call('HGETALL', job_key(id))
end
return reply{ids = ids, records = records}
