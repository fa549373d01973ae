-- (placeholder: replaced when the branch bringing this migration is merged)
SELECT 1;
