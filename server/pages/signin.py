"""Web pages common to every role: sign-in, sign-out, and the home page that leads to the others."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from layso.server.auth import base_url, check_password, current_principal, limit_password_guess
from layso.server.errors import QueueError
from layso.server.pages import wording
from layso.server.services import publish, services

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    who = current_principal()
    if who is None or not who.is_user:
        return redirect(url_for("web.login"))
    return render_template("home.html", who=who, role_name=wording.named(wording.ROLE_NAMES, who.role))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    svc = services()
    if request.method == "POST":
        try:
            limit_password_guess(svc.limiter, request.form.get("username", ""), request.remote_addr)
        except QueueError:
            return render_template("login.html", error=_("Too many attempts. Please wait a minute.")), 429
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        counter_text = request.form.get("counter", "").strip()
        user = check_password(svc.db, username, password)
        if user is None:
            error = _("Wrong username or password.")
        else:
            counter = None
            if counter_text:
                if not counter_text.isdigit() or len(counter_text) > 4:
                    error = _("The counter must be a number.")
                else:
                    counter = int(counter_text)
            if error is None:
                session.clear()
                session["uid"] = user.id
                session.permanent = True
                if counter is not None:
                    try:
                        publish(svc.engine.sign_in(user.centre_id, counter, user.id, base_url=base_url()))
                        session["counter"] = counter
                    except QueueError:
                        session.clear()
                        error = _("This counter does not exist.")
                if error is None:
                    return redirect(request.args.get("next") if _safe_next() else url_for("web.home"))
    return render_template("login.html", error=error), (401 if error else 200)


def _safe_next() -> bool:
    nxt = request.args.get("next", "")
    return nxt.startswith("/") and not nxt.startswith("//")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("web.login"))


# Pages of other blueprints add themselves here: (minimum role, endpoint, lazy label).
PAGE_LINKS: list[tuple[str, str, object]] = []


def add_page_link(min_role: str, endpoint: str, label) -> None:
    PAGE_LINKS.append((min_role, endpoint, label))


def lang_url(code: str) -> str:
    """This page in another language: the same path and query, with lang=CODE."""
    if not request.endpoint:
        return f"?lang={code}"
    args = {k: v for k, v in request.args.to_dict(flat=False).items() if k not in (request.view_args or {})}
    args["lang"] = [code]
    return url_for(request.endpoint, **(request.view_args or {}), **args)


@bp.app_context_processor
def _links():
    def page_links(who):
        out = []
        for role, endpoint, label in PAGE_LINKS:
            if who.at_least(role):
                out.append({"url": url_for(endpoint), "label": str(label)})
        return out
    return {"page_links": page_links, "lang_url": lang_url}
