-- Merchants with the risk level of their MCC; a code missing from the mcc_risk seed is 'medium'.
with merchants as (

    select * from {{ ref('stg_ledger__merchants') }}

),

mcc_risk as (

    select * from {{ ref('mcc_risk') }}

)

select
    merchants.merchant_id,
    merchants.merchant_name,
    merchants.mcc,
    merchants.category,
    coalesce(mcc_risk.risk_level, 'medium') as mcc_risk_level,
    merchants.size_tier,
    merchants.city_region,
    merchants.onboarded_date,
    merchants.chargeback_rate,
    merchants.refund_rate
from merchants
left join mcc_risk
    on merchants.mcc = mcc_risk.mcc
