-- One row per day and transaction type. P2P volume is counted once, on the sender's side.
select
    cast(occurred_date as date) as activity_date,
    cast(tx_type as {{ dbt.type_string() }}) as tx_type,
    cast(count(*) as {{ dbt.type_bigint() }}) as tx_count,
    cast(count(distinct user_id) as {{ dbt.type_bigint() }}) as distinct_users,
    cast(coalesce(sum(amount_base), 0) as {{ type_double() }}) as volume_base,
    cast(coalesce(sum(fee_base), 0) as {{ type_double() }}) as fees_base,
    cast(
        sum(case when amount_base is null then 1 else 0 end) as {{ dbt.type_bigint() }}
    ) as unpriced_tx_count
from {{ ref('int_transactions_normalised') }}
group by occurred_date, tx_type
