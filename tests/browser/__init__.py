"""The pages in a real browser: Playwright driving Debian's Chromium against the app run by uvicorn."""
