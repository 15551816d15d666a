select
    cast(merchant_id as {{ dbt.type_string() }}) as merchant_id,
    cast(merchant_name as {{ dbt.type_string() }}) as merchant_name,
    trim(cast(mcc as {{ dbt.type_string() }})) as mcc,
    lower(trim(category)) as category,
    cast(city_region as {{ dbt.type_string() }}) as city_region,
    lower(trim(size_tier)) as size_tier,
    cast(chargeback_rate as {{ type_double() }}) as chargeback_rate,
    cast(refund_rate as {{ type_double() }}) as refund_rate,
    cast(onboarded_date as date) as onboarded_date
from {{ source('ledger', 'merchants') }}
