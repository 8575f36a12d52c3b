"""The sync engine: runs one mapping through extract, couple, transform, load and record."""
