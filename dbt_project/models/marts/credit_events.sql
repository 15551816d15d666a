-- The ledger as the credit features read it: one row per movement, in USD, with the merchant's
-- MCC risk, seen from the account (subject_id) it belongs to. counterparty and device are
-- credit-purpose pseudonyms; a p2p transfer appears once, from the sender.
with movements as (

    select * from {{ ref('int_transactions_normalised') }}

),

merchants as (

    select * from {{ ref('int_merchants_risk_rated') }}

)

select
    movements.txn_id,
    movements.user_id as subject_id,
    movements.occurred_at,
    movements.tx_type,
    movements.direction,
    movements.amount_base,
    movements.fee_base,
    merchants.mcc,
    merchants.mcc_risk_level as mcc_risk,
    movements.counterparty_pseudonym as counterparty,
    movements.device_pseudonym as device_id,
    movements.country,
    movements.loan_id
from movements
left join merchants
    on movements.merchant_id = merchants.merchant_id
