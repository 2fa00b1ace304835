select
    customer_id,
    first_name,
    last_name,
    nullif(email, '') as email,
    plan,
    signup_date,
    last_seen_at,
    lifetime_value,
    is_vip,
    case when interests is null or interests = '' then null
         else string_split(interests, ';') end as interests
from {{ ref('raw_customers') }}
