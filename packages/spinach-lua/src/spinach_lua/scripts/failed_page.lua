--[[
Read one page of a queue's failed jobs, newest first, read-only.

KEYS
  schema      STRING  schema version of this queue's data
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  jobs        HASH    id -> envelope (see the record include)
  state       HASH    id -> packed state of the job (see the record include)

ARGV
  version     schema version expected by the caller
  offset      how many newer failed jobs to skip
  limit       most jobs to return (a page: never the whole store at once)

REPLY
  ids         ids of the page's jobs, newest first
  states      the packed state of each (false if gone)
  envelopes   the envelope of each (false if gone)
]]
--- @include "prelude"
--- @include "schema_peek"

local first = tonumber(ARG.offset)
local ids = redis.call('ZREVRANGE', KEY.failed_index, first, first + tonumber(ARG.limit) - 1)
return reply{ids = ids, states = hmget_sliced(KEY.state, ids), envelopes = hmget_sliced(KEY.jobs, ids)}
