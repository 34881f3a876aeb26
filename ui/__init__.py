"""Thin Streamlit layer beside pages/: cached core calls, URL filters, charts and shared page pieces."""
