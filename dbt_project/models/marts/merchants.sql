-- One row per merchant: profile, MCC risk and the payments it received.
with merchants as (

    select * from {{ ref('int_merchants_risk_rated') }}

),

payments as (

    select
        merchant_id,
        count(*) as payment_count,
        count(distinct user_id) as distinct_payers,
        coalesce(sum(amount_base), 0) as total_volume_base,
        count(distinct {{ dbt.date_trunc('month', 'occurred_date') }}) as active_months,
        min(occurred_date) as first_payment_date,
        max(occurred_date) as last_payment_date
    from {{ ref('int_transactions_normalised') }}
    where tx_type = 'merchant_payment'
      and merchant_id is not null
    group by merchant_id

)

select
    cast(merchants.merchant_id as {{ dbt.type_string() }}) as merchant_id,
    cast(merchants.merchant_name as {{ dbt.type_string() }}) as merchant_name,
    cast(merchants.mcc as {{ dbt.type_string() }}) as mcc,
    cast(merchants.category as {{ dbt.type_string() }}) as category,
    cast(merchants.mcc_risk_level as {{ dbt.type_string() }}) as mcc_risk_level,
    cast(merchants.size_tier as {{ dbt.type_string() }}) as size_tier,
    cast(merchants.city_region as {{ dbt.type_string() }}) as city_region,
    cast(merchants.onboarded_date as date) as onboarded_date,
    cast(merchants.chargeback_rate as {{ type_double() }}) as chargeback_rate,
    cast(merchants.refund_rate as {{ type_double() }}) as refund_rate,
    cast(coalesce(payments.payment_count, 0) as {{ dbt.type_bigint() }}) as payment_count,
    cast(coalesce(payments.distinct_payers, 0) as {{ dbt.type_bigint() }}) as distinct_payers,
    cast(coalesce(payments.total_volume_base, 0) as {{ type_double() }}) as total_volume_base,
    cast(coalesce(payments.active_months, 0) as {{ dbt.type_bigint() }}) as active_months,
    cast(
        payments.total_volume_base / nullif(payments.active_months, 0) as {{ type_double() }}
    ) as avg_monthly_volume_base,
    cast(payments.first_payment_date as date) as first_payment_date,
    cast(payments.last_payment_date as date) as last_payment_date
from merchants
left join payments on merchants.merchant_id = payments.merchant_id
