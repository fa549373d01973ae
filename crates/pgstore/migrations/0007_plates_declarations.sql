-- (placeholder: replaced when the plates branch is merged)
SELECT 1;
