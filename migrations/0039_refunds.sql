-- migrate:up
-- A refund is a transaction of its own (SPEC 13.3), linked to the payment it returns by
-- `refund_of`, with a negative amount, rather than a table of refunds: then income is the sum
-- of `transactions` as it always was, and the dashboard's income counters (0030's triggers,
-- which sum `amount` per day and currency) subtract a refund on the day it is made, with no
-- second trigger to keep in step; the transactions list shows money in and out together, and
-- the client's currency history (SPEC 1.6) sees refunds as it sees payments.
--
-- `refund_kind` says where the money went: back through the gateway (GATEWAY), to the
-- client's credit (CREDIT), or by hand outside the system (MANUAL).
--
-- `credited`: of a payment, the part that became credit as an overpayment (SPEC 3.4); of a
-- refund, the part of it taken back out of that credit. A payment's refunds come out of its
-- credited part first, then out of what it paid on the invoice, so an invoice's balance is
-- total − credit − Σ(payment − credited) + Σ(refund − credited): nothing is given back twice.
ALTER TABLE transactions
    ADD COLUMN refund_of bigint REFERENCES transactions (id),
    ADD COLUMN refund_kind text CHECK (refund_kind IN ('GATEWAY', 'CREDIT', 'MANUAL')),
    ADD COLUMN credited numeric(14, 2) NOT NULL DEFAULT 0 CHECK (credited >= 0);

ALTER TABLE transactions DROP CONSTRAINT transactions_amount_check;
ALTER TABLE transactions ADD CONSTRAINT transactions_amount_check CHECK (
    CASE WHEN refund_of IS NULL THEN amount > 0 AND refund_kind IS NULL AND credited <= amount
         ELSE amount < 0 AND refund_kind IS NOT NULL AND credited <= -amount END);

CREATE INDEX transactions_refund_of ON transactions (refund_of) WHERE refund_of IS NOT NULL;

-- Past overpayments were logged on the invoice, not on the payment: each invoice's
-- overpayment credit goes to its latest payments, which are the ones that overpaid it.
WITH overpaid AS (
    SELECT invoice_id, sum(amount) AS amount FROM credit_log
     WHERE invoice_id IS NOT NULL AND amount > 0
       AND description LIKE 'Credit for Overpayment of Invoice #%'
     GROUP BY invoice_id
), newer AS (
    SELECT t.id, t.amount, o.amount AS overpaid,
           coalesce(sum(t.amount) OVER (PARTITION BY t.invoice_id ORDER BY t.id DESC
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
               AS after_it
      FROM transactions t JOIN overpaid o ON o.invoice_id = t.invoice_id
)
UPDATE transactions t
   SET credited = least(n.amount, greatest(0, n.overpaid - n.after_it))
  FROM newer n
 WHERE t.id = n.id;
