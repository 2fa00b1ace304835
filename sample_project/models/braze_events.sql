select event_id, customer_id, event_name, occurred_at, amount, channel
from {{ ref('raw_events') }}
