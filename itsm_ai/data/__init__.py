"""Import and export of records (CSV, Parquet, pandas) for migrations and data scientists."""
