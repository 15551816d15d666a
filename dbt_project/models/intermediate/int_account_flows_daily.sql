-- Per account and day, what came in, went out and was paid in fees, in USD.
-- P2P transfers are recorded once, from the sender; the receiver's inflow is added here from
-- counterparty_user_id. A swap exchanges one asset for another of equal value (the ledger has no
-- target amount), so only its fee changes the account's value.
with normalised as (

    select * from {{ ref('int_transactions_normalised') }}

),

own_movements as (

    select
        user_id,
        occurred_date as activity_date,
        case
            when direction = 'in' and tx_type <> 'swap' then amount_base else 0
        end as inflow_base,
        case
            when direction = 'out' and tx_type <> 'swap' then amount_base else 0
        end as outflow_base,
        fee_base as fees_base,
        case when amount_base is null then 1 else 0 end as is_unpriced
    from normalised

),

p2p_receipts as (

    select
        counterparty_user_id as user_id,
        occurred_date as activity_date,
        amount_base as inflow_base,
        0 as outflow_base,
        0 as fees_base,
        case when amount_base is null then 1 else 0 end as is_unpriced
    from normalised
    where tx_type = 'p2p_transfer'
      and counterparty_user_id is not null

),

movements as (

    select * from own_movements
    union all
    select * from p2p_receipts

)

select
    user_id,
    activity_date,
    coalesce(sum(inflow_base), 0) as inflow_base,
    coalesce(sum(outflow_base), 0) as outflow_base,
    coalesce(sum(fees_base), 0) as fees_base,
    coalesce(sum(inflow_base), 0) - coalesce(sum(outflow_base), 0) - coalesce(sum(fees_base), 0)
        as net_flow_base,
    count(*) as tx_count,
    sum(is_unpriced) as unpriced_tx_count
from movements
group by user_id, activity_date
