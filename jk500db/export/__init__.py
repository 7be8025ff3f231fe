"""Exports for statisticians and reviewers (tidy CSV and XLSX, SDTM, ADaM, ODM, tables, plots)."""
