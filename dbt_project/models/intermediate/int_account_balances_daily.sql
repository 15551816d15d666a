-- End-of-day balance in USD on every day an account moved: the cumulative net flow since its first
-- movement. The balance only changes on such days, so min/last over these rows are exact.
with flows as (

    select * from {{ ref('int_account_flows_daily') }}

)

select
    user_id,
    activity_date,
    net_flow_base,
    sum(net_flow_base) over (
        partition by user_id
        order by activity_date
        rows between unbounded preceding and current row
    ) as balance_base
from flows
