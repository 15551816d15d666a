select
    cast(price_id as {{ dbt.type_string() }}) as price_id,
    cast(price_date as date) as price_date,
    upper(trim(asset)) as asset,
    cast(price_base as {{ type_double() }}) as price_base
from {{ source('ledger', 'prices') }}
