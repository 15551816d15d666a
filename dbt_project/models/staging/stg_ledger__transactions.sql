-- The sources are minimised for credit scoring: counterparty and device_id arrive as credit-purpose
-- pseudonyms (never raw addresses or device ids) and IP addresses are not selected.
-- counterparty_user_id is the pseudonym of the receiving holder, for p2p transfers only.
with source as (

    select * from {{ source('ledger', 'transactions') }}

),

renamed as (

    select
        cast(txn_id as {{ dbt.type_string() }}) as txn_id,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
        cast({{ dbt.date_trunc('day', 'occurred_at') }} as date) as occurred_date,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(wallet_id as {{ dbt.type_string() }}) as wallet_id,
        lower(trim(tx_type)) as tx_type,
        lower(trim(direction)) as direction,
        upper(trim(asset)) as asset,
        cast(amount as {{ type_double() }}) as amount,
        cast(fee as {{ type_double() }}) as fee,
        cast(counterparty as {{ dbt.type_string() }}) as counterparty,
        cast(merchant_id as {{ dbt.type_string() }}) as merchant_id,
        cast(loan_id as {{ dbt.type_string() }}) as loan_id,
        upper(trim(to_asset)) as to_asset,
        upper(trim(country)) as country,
        cast(device_id as {{ dbt.type_string() }}) as device_pseudonym
    from source

)

select
    txn_id,
    occurred_at,
    occurred_date,
    user_id,
    wallet_id,
    tx_type,
    direction,
    case direction when 'in' then 1 when 'out' then -1 end as direction_sign,
    asset,
    amount,
    fee,
    amount * case direction when 'in' then 1 when 'out' then -1 end as signed_amount,
    counterparty as counterparty_pseudonym,
    case when tx_type = 'p2p_transfer' then counterparty end as counterparty_user_id,
    merchant_id,
    loan_id,
    to_asset,
    country,
    device_pseudonym
from renamed
