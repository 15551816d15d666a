-- The loans mart compares repayments with the principal in loan-asset units; a repayment in another
-- asset would be summed as if it were the loan asset. Warn: the loan is still kept, its outcome may
-- then be wrong and should be reviewed.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'stg_ledger__loans'}}}) }}

select
    transactions.txn_id,
    transactions.loan_id,
    transactions.asset as repayment_asset,
    loans.asset as loan_asset
from {{ ref('stg_ledger__transactions') }} as transactions
inner join {{ ref('stg_ledger__loans') }} as loans
    on transactions.loan_id = loans.loan_id
where transactions.tx_type = 'loan_repayment'
  and transactions.asset <> loans.asset
