-- The chain address is an identifier of the holder and is not selected.
select
    cast(wallet_id as {{ dbt.type_string() }}) as wallet_id,
    cast(user_id as {{ dbt.type_string() }}) as user_id,
    upper(trim(chain)) as chain,
    cast(created_date as date) as created_date
from {{ source('ledger', 'wallets') }}
