"""Website: Jinja2 pages with papers.cool's URLs and markup."""
