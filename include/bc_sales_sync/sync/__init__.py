"""The entity sync job: one mapping through read, couple, transform, load and record.

:class:`~include.bc_sales_sync.sync.job.EntitySyncJob` runs on the job skeleton
(:mod:`include.bc_sales_sync.jobs`); its steps are modules of their own: :mod:`.read`,
:mod:`.couple`, :mod:`.prerequisites` and :mod:`.lookups`, :mod:`.plan`, :mod:`.load`.
"""
