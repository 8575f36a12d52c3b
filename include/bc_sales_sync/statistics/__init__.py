"""BC's customer statistics job: account statistics in Sales and the payment status of invoices (facts §9, §11)."""
