-- POST /api/v1/conversations/{id}/messages: one statement on PostgreSQL, a CTE whose UPDATE
-- locks the conversation row, bumps its counters and feeds the message's time to the INSERT,
-- as sea-query writes it (the counter's 1 is a parameter there too). $3 (the service's clock)
-- is a parameter here too; the message id comes from bench_uuid7(); metadata is NULL as in the
-- wrk body. Variables (-D): user_id, conv_id, at, role, content.
\set one 1
WITH "conversation" AS (UPDATE "conversations" SET "message_count" = "message_count" + :one,
    "last_message_at" = (CASE WHEN ("last_message_at" >= :at) THEN "last_message_at" + (interval '1 microsecond') ELSE :at END),
    "updated_at" = (CASE WHEN ("last_message_at" >= :at) THEN "last_message_at" + (interval '1 microsecond') ELSE :at END)
    WHERE "conversations"."id" = :conv_id AND "conversations"."user_id" = :user_id RETURNING "last_message_at")
INSERT INTO "messages" ("id", "conversation_id", "role", "content", "metadata", "created_at")
SELECT bench_uuid7(), :conv_id, :role, :content, NULL, "conversation"."last_message_at" FROM "conversation"
RETURNING "created_at";
