--[[
Read one page of a queue's failed jobs, newest first, read-only.

KEYS[1] schema      STRING  schema version of this queue's data
KEYS[2] failed      HASH    id -> record of a job that failed for good
KEYS[3] failed_jobs HASH    id -> envelope of a job that failed for good
KEYS[4] failed_index ZSET   id -> when it failed (ms)

ARGV[1]             schema version expected by the caller
ARGV[2]             how many newer failed jobs to skip
ARGV[3]             most jobs to return (a page: never the whole store at once)
ARGV[4]             1 to return the envelopes too (arguments), 0 not to

Returns {0, total, ids, records, envelopes}: envelopes is empty unless asked for; an envelope
        is false when the job's was missing (a lost payload).
        {-1, stored}        schema mismatch
]]
--- @include "prelude"
--- @include "schema_peek"


local first = tonumber(ARGV[2])
local ids = redis.call('ZREVRANGE', KEYS[4], first, first + tonumber(ARGV[3]) - 1)
local records, envelopes = {}, {}
if #ids > 0 then
  records = hmget_sliced(KEYS[2], ids)
  if ARGV[4] == '1' then
    envelopes = hmget_sliced(KEYS[3], ids)
  end
end
return {0, redis.call('ZCARD', KEYS[4]), ids, records, envelopes}
