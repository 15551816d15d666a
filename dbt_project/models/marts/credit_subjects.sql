-- The static attributes of each applicant the credit features may use. Protected attributes
-- (gender, age) are not here: fairness evaluation joins them separately, never as features.
select
    user_id as subject_id,
    signup_date,
    kyc_level,
    city_tier
from {{ ref('accounts') }}
