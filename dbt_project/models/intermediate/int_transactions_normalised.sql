-- Amounts and fees in USD at the asset's close price of the day the movement occurred. A movement
-- without a price keeps a null amount_base (a warn-level test counts them) rather than a guess.
with transactions as (

    select * from {{ ref('stg_ledger__transactions') }}

),

prices as (

    select * from {{ ref('stg_ledger__prices') }}

)

select
    transactions.txn_id,
    transactions.occurred_at,
    transactions.occurred_date,
    transactions.user_id,
    transactions.wallet_id,
    transactions.tx_type,
    transactions.direction,
    transactions.direction_sign,
    transactions.asset,
    transactions.amount,
    transactions.fee,
    prices.price_base,
    transactions.amount * prices.price_base as amount_base,
    transactions.fee * prices.price_base as fee_base,
    transactions.signed_amount * prices.price_base as signed_amount_base,
    transactions.counterparty_pseudonym,
    transactions.counterparty_user_id,
    transactions.merchant_id,
    transactions.loan_id,
    transactions.to_asset,
    transactions.country,
    transactions.device_pseudonym
from transactions
left join prices
    on transactions.asset = prices.asset
    and transactions.occurred_date = prices.price_date
