"""Local emulators of Business Central, Dataverse and Entra ID (the sandbox).

``python -m include.sandbox serve`` starts all three over HTTPS; see ``include/sandbox/README.md``.
"""
