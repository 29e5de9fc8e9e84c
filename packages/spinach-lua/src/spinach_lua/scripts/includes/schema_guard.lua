-- Every writing script starts here: KEYS[1] is the queue's schema key, ARGV[1] the caller's
-- schema version. Data written by another schema is refused before anything is touched.
do
  local schema_refusal = schema_error(KEYS[1], ARGV[1])
  if schema_refusal then
    return schema_refusal
  end
end
