"""Ranking a day's papers: arXiv order, popularity, publish time, and "for you"."""
