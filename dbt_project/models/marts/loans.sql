-- One row per loan with the outcome observed in the ledger's repayment transactions.
--   repaid_at: the day cumulative repayments first reach the principal (loan-asset units).
--   on_time:   repaid less than 30 days after the due date.
--   late_30:   repaid 30+ days after it, or still unpaid 30+ days past due (before due + 90).
--   default:   not fully repaid by due_date + 90 days, a day that lies before the ledger's last day.
--   open:      not decidable yet.
-- is_bad (the credit label) is set only once the 30-day performance window after the due date
-- has closed inside the ledger: labelling early loans only when they are already repaid would
-- bias the label towards good outcomes.
{% set default_after_days = 90 %}
{% set late_after_days = 30 %}

with loans as (

    select * from {{ ref('stg_ledger__loans') }}

),

ledger_end as (

    select max(occurred_date) as ledger_last_date
    from {{ ref('stg_ledger__transactions') }}

),

repayments as (

    select
        loan_id,
        occurred_date,
        amount,
        sum(amount) over (
            partition by loan_id
            order by occurred_at, txn_id
            rows between unbounded preceding and current row
        ) as cumulative_repaid
    from {{ ref('stg_ledger__transactions') }}
    where tx_type = 'loan_repayment'
      and loan_id is not null

),

repayment_totals as (

    select
        repayments.loan_id,
        count(*) as repayment_count,
        sum(repayments.amount) as repaid_amount,
        -- the tolerance absorbs float rounding of instalments that add up to the principal
        min(
            case
                when repayments.cumulative_repaid >= loans.principal - 1e-6
                    then repayments.occurred_date
            end
        ) as repaid_at
    from repayments
    inner join loans on repayments.loan_id = loans.loan_id
    group by repayments.loan_id

),

observed as (

    select
        loans.*,
        coalesce(repayment_totals.repayment_count, 0) as repayment_count,
        coalesce(repayment_totals.repaid_amount, 0) as repaid_amount,
        repayment_totals.repaid_at,
        ledger_end.ledger_last_date,
        cast(
            {{ dbt.dateadd('day', default_after_days, 'loans.due_date') }} as date
        ) as default_date
    from loans
    cross join ledger_end
    left join repayment_totals on loans.loan_id = repayment_totals.loan_id

),

classified as (

    select
        *,
        case
            when repaid_at is not null and repaid_at <= default_date then
                case
                    when {{ dbt.datediff('due_date', 'repaid_at', 'day') }} >= {{ late_after_days }}
                        then 'late_30'
                    else 'on_time'
                end
            when default_date < ledger_last_date then 'default'
            when {{ dbt.dateadd('day', late_after_days, 'due_date') }} < ledger_last_date
                then 'late_30'
            else 'open'
        end as outcome,
        {{ dbt.dateadd('day', late_after_days, 'due_date') }} < ledger_last_date as is_mature,
        greatest(
            {{ dbt.datediff('due_date', 'coalesce(repaid_at, ledger_last_date)', 'day') }}, 0
        ) as days_late
    from observed

)

select
    cast(loan_id as {{ dbt.type_string() }}) as loan_id,
    cast(user_id as {{ dbt.type_string() }}) as user_id,
    cast(applied_at as {{ dbt.type_timestamp() }}) as applied_at,
    cast(applied_date as date) as applied_date,
    cast(asset as {{ dbt.type_string() }}) as asset,
    cast(principal as {{ type_double() }}) as principal,
    cast(term_days as {{ dbt.type_int() }}) as term_days,
    cast(due_date as date) as due_date,
    cast(repayment_count as {{ dbt.type_bigint() }}) as repayment_count,
    cast(repaid_amount as {{ type_double() }}) as repaid_amount,
    cast(repaid_at as date) as repaid_at,
    cast(days_late as {{ dbt.type_int() }}) as days_late,
    cast(outcome as {{ dbt.type_string() }}) as outcome,
    cast(
        case
            when not is_mature then null
            when outcome = 'on_time' then 0
            else 1
        end
        as {{ dbt.type_int() }}
    ) as is_bad
from classified
