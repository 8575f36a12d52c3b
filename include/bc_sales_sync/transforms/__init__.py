"""Pure pandas transforms: a source DataFrame (+ lookup frames) in, target rows and errors out.

No I/O here, so every business rule is testable without HTTP. See :mod:`.base` for the contract.
"""
