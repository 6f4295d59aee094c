import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

from plumbing.fastpath import FastPath  # noqa: E402  (after the settings module is named)

# The scanners' verification skips Django's request machinery in the plain case
# (plumbing/fastpath.py says why and what it keeps).
application = FastPath(get_wsgi_application(), {"/api/v1/scanner/verify": "codes.apis.verify_fast"})
