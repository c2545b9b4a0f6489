"""Reading results: the best run, flat rows for export, and the export formats."""
