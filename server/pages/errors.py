"""Error pages for people: a page that does not exist, a method or a request the server refuses,
too many requests — in the page's language, never werkzeug's English HTML. The API keeps its JSON
errors (server/app.py decides which of the two a path gets)."""
from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

PAGES = {
    404: (_l("Page not found"), _l("This address does not lead to a page. Check the link, or start again from the home page.")),
    405: (_l("Not possible here"), _l("This page cannot be used this way. Go back and try again.")),
    413: (_l("Too much data"), _l("What was sent is too large. Please send less.")),
    429: (_l("Too many requests"), _l("Too many requests. Please wait a moment.")),
}
OTHER = (_l("Something went wrong"), _l("The request could not be handled. Please try again."))


FORM_EXPIRED = (_l("The form expired"), _l("The form expired. Please reload the page."))


def error_page(err: HTTPException):
    """The HTML answer for an HTTP error on a web page, with the same status."""
    from flask_wtf.csrf import CSRFError
    title, text = FORM_EXPIRED if isinstance(err, CSRFError) else PAGES.get(err.code or 400, OTHER)
    return render_template("error.html", title=str(title), text=str(text)), err.code or 400
