-- Helpers the benchmark installs in its own scratch database (never in the service's schema).
--
-- bench_uuid7(at): a version-7 UUID for the instant `at`, like the ids the service makes
-- (uuid v7: 48-bit Unix milliseconds, then random bits). The service's ids are time-ordered,
-- so its inserts land at the right edge of the primary-key index; pgbench's inserts and the
-- bulk seed use this function so they do too (gen_random_uuid() alone would scatter them and
-- make the pgbench baseline slower than the service's real write pattern).
CREATE OR REPLACE FUNCTION bench_uuid7(at timestamptz DEFAULT clock_timestamp())
RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
AS $$
    SELECT encode(
        set_byte(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            6,
            (get_byte(uuid_send(gen_random_uuid()), 6) & 15) | 112),
        'hex')::uuid
$$;
