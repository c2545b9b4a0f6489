"""Parts of the search-quality benchmark (bench/search.py)."""
