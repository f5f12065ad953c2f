"""The live dashboard served by every frontend at `/dashboard` (docs/dashboard.md).

Plain HTML written server-side (markup.py and the *_pages.py modules), one small script that
redraws a page's live part every 2 s (static.py), sessions signed in with an access key
(sessions.py, routes.py) and CSRF checks on every form (csrf.py). It reads and acts through the
frontend's service as the signed-in key, so the grants that bound the REST API bound it.
"""
