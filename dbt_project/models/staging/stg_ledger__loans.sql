select
    cast(loan_id as {{ dbt.type_string() }}) as loan_id,
    cast(user_id as {{ dbt.type_string() }}) as user_id,
    cast(applied_at as {{ dbt.type_timestamp() }}) as applied_at,
    cast({{ dbt.date_trunc('day', 'applied_at') }} as date) as applied_date,
    cast(principal as {{ type_double() }}) as principal,
    upper(trim(asset)) as asset,
    cast(term_days as {{ dbt.type_int() }}) as term_days,
    cast(due_date as date) as due_date
from {{ source('ledger', 'loans') }}
