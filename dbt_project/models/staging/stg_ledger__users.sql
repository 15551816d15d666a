-- Business columns only: names, contacts, ids, birth date, gender, home city, device and IP stay out.
select
    cast(user_id as {{ dbt.type_string() }}) as user_id,
    cast(city_tier as {{ dbt.type_int() }}) as city_tier,
    cast(kyc_level as {{ dbt.type_int() }}) as kyc_level,
    cast(signup_date as date) as signup_date
from {{ source('ledger', 'users') }}
