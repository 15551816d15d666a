-- One row per wallet holder: profile, activity, USD flows and balance, merchant spend mix, loans.
with users as (

    select * from {{ ref('stg_ledger__users') }}

),

wallets as (

    select user_id, count(*) as wallet_count
    from {{ ref('stg_ledger__wallets') }}
    group by user_id

),

flows as (

    select
        user_id,
        min(activity_date) as first_activity_date,
        max(activity_date) as last_activity_date,
        count(*) as active_days,
        sum(tx_count) as tx_count,
        sum(inflow_base) as total_inflow_base,
        sum(outflow_base) as total_outflow_base,
        sum(fees_base) as total_fees_base
    from {{ ref('int_account_flows_daily') }}
    group by user_id

),

balances as (

    select
        user_id,
        max(case when is_last_day then balance_base end) as current_balance_base,
        min(balance_base) as min_balance_base
    from (
        select
            user_id,
            balance_base,
            activity_date = max(activity_date) over (partition by user_id) as is_last_day
        from {{ ref('int_account_balances_daily') }}
    ) as daily
    group by user_id

),

merchant_spend_by_category as (

    select
        payments.user_id,
        merchants.category,
        merchants.mcc_risk_level,
        sum(payments.amount_base) as spend_base
    from {{ ref('int_transactions_normalised') }} as payments
    inner join {{ ref('int_merchants_risk_rated') }} as merchants
        on payments.merchant_id = merchants.merchant_id
    where payments.tx_type = 'merchant_payment'
      and payments.amount_base is not null
    group by payments.user_id, merchants.category, merchants.mcc_risk_level

),

merchant_spend as (

    select
        user_id,
        sum(spend_base) as merchant_spend_base,
        sum(case when mcc_risk_level = 'low' then spend_base else 0 end) as low_risk_spend_base,
        sum(case when mcc_risk_level = 'medium' then spend_base else 0 end)
            as medium_risk_spend_base,
        sum(case when mcc_risk_level = 'high' then spend_base else 0 end) as high_risk_spend_base
    from merchant_spend_by_category
    group by user_id

),

top_category as (

    select user_id, category as top_spend_category
    from (
        select
            user_id,
            category,
            row_number() over (
                partition by user_id order by spend_base desc, category
            ) as spend_rank
        from merchant_spend_by_category
    ) as ranked
    where spend_rank = 1

),

loans as (

    select user_id, count(*) as loan_count
    from {{ ref('stg_ledger__loans') }}
    group by user_id

)

select
    cast(users.user_id as {{ dbt.type_string() }}) as user_id,
    cast(users.signup_date as date) as signup_date,
    cast(users.kyc_level as {{ dbt.type_int() }}) as kyc_level,
    cast(users.city_tier as {{ dbt.type_int() }}) as city_tier,
    cast(coalesce(wallets.wallet_count, 0) as {{ dbt.type_bigint() }}) as wallet_count,
    cast(flows.first_activity_date as date) as first_activity_date,
    cast(flows.last_activity_date as date) as last_activity_date,
    cast(coalesce(flows.active_days, 0) as {{ dbt.type_bigint() }}) as active_days,
    cast(coalesce(flows.tx_count, 0) as {{ dbt.type_bigint() }}) as tx_count,
    cast(coalesce(flows.total_inflow_base, 0) as {{ type_double() }}) as total_inflow_base,
    cast(coalesce(flows.total_outflow_base, 0) as {{ type_double() }}) as total_outflow_base,
    cast(coalesce(flows.total_fees_base, 0) as {{ type_double() }}) as total_fees_base,
    cast(coalesce(balances.current_balance_base, 0) as {{ type_double() }})
        as current_balance_base,
    cast(coalesce(balances.min_balance_base, 0) as {{ type_double() }}) as min_balance_base,
    cast(coalesce(merchant_spend.merchant_spend_base, 0) as {{ type_double() }})
        as merchant_spend_base,
    cast(
        merchant_spend.low_risk_spend_base / nullif(merchant_spend.merchant_spend_base, 0)
        as {{ type_double() }}
    ) as low_risk_spend_share,
    cast(
        merchant_spend.medium_risk_spend_base / nullif(merchant_spend.merchant_spend_base, 0)
        as {{ type_double() }}
    ) as medium_risk_spend_share,
    cast(
        merchant_spend.high_risk_spend_base / nullif(merchant_spend.merchant_spend_base, 0)
        as {{ type_double() }}
    ) as high_risk_spend_share,
    cast(top_category.top_spend_category as {{ dbt.type_string() }}) as top_spend_category,
    cast(coalesce(loans.loan_count, 0) as {{ dbt.type_bigint() }}) as loan_count
from users
left join wallets on users.user_id = wallets.user_id
left join flows on users.user_id = flows.user_id
left join balances on users.user_id = balances.user_id
left join merchant_spend on users.user_id = merchant_spend.user_id
left join top_category on users.user_id = top_category.user_id
left join loans on users.user_id = loans.user_id
