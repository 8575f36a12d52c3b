"""Developer tools: run the project against the sandbox (``python -m dev demo|sync|airflow|prepare``).

Not part of the product: nothing under ``include/bc_sales_sync`` imports it.
"""
