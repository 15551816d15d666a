-- One row per loan application with its principal in USD at the close price of the application
-- day and the credit label (null until the performance window has closed, see loans).
with loans as (

    select * from {{ ref('loans') }}

),

prices as (

    select * from {{ ref('stg_ledger__prices') }}

)

select
    loans.loan_id,
    loans.user_id as subject_id,
    loans.applied_at,
    loans.principal * prices.price_base as principal_base,
    loans.term_days,
    loans.due_date,
    loans.is_bad as label
from loans
left join prices
    on loans.asset = prices.asset
    and loans.applied_date = prices.price_date
