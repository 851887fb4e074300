-- GET /api/v1/conversations/{id}/messages (first page, ascending): one SELECT joined to the
-- conversation for the ownership check. Variables (-D): user_id, conv_id.
\set want 21
SELECT "messages"."id", "messages"."conversation_id", "messages"."role", "messages"."content", "messages"."metadata", "messages"."created_at"
FROM "messages" INNER JOIN "conversations" ON "messages"."conversation_id" = "conversations"."id"
WHERE "messages"."conversation_id" = :conv_id AND "conversations"."user_id" = :user_id
ORDER BY "messages"."created_at" ASC, "messages"."id" ASC LIMIT :want;
