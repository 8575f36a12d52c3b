"""BC's customer statistics jobs (facts §9, §11): account statistics in Sales and the payment status
of invoices. The figures are pure pandas (:mod:`.figures`), the reads are in :mod:`.sources`, and
both jobs run on the job skeleton (:mod:`include.bc_sales_sync.jobs`)."""
