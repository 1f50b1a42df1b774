"""Authentication and authorization for the whole web app: deny by default.

One `before_request` hook, registered before Dash mounts, decides every request:
- public: `/healthz`, `/login` and `/static/*` (the login page's stylesheet), nothing else;
- `/api/*` accepts `Authorization: Bearer <token>` (issued by `python -m appsrc users token`;
  only its hash is stored); Bearer requests carry no ambient credentials, so they are exempt
  from CSRF. Everything else needs the Flask-Login session cookie;
- anonymous: 401 JSON for `/api/*`, `/_dash-*`, assets and any non-GET request; a 302 to the
  login page (with a validated `next`) for page loads;
- every cookie-authenticated unsafe request (POST/PATCH/...: Dash callbacks, API writes,
  logout) must carry the CSRF token, as `X-CSRFToken` (dash-renderer copies it from the
  JS-readable `_csrf_token` cookie set here) or a `csrf_token` form field: 400 JSON otherwise;
- authorization is server-side: admin pages redirect non-admins, Dash callbacks are admin-only
  unless their function is marked `member_callback`, API views use `admin_required`.

Sessions end in four ways, whatever the cookie says:
- the user's session version moved on: signing out, a password reset or change and deactivation
  raise it (`crm.users.end_sessions`), so a cookie copied before any of them is refused after;
- the password hash changed (the session id embeds a fingerprint of it);
- `SESSION_ABSOLUTE` after signing in, however often the dashboard polled (polling refreshes
  the idle lifetime, `SESSION_LIFETIME`, and must not keep a session alive forever);
- the browser changed: a session is bound to the User-Agent it signed in with. (Flask-Login's own
  "strong" protection does nothing for permanent sessions, and behind StartOS's proxies every
  client has the same address, so the address cannot be part of the binding.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import ValidationError as CSRFValidationError

from appsrc.app_services import runtime
from appsrc.crm import audit
from appsrc.crm.users import end_sessions, user_for_token, verify_password
from appsrc.store.models import User

PUBLIC_PATHS = frozenset({"/healthz", "/login"})
PUBLIC_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths that are never pages: anonymous requests get 401 JSON, not a redirect to the login form.
MACHINE_PREFIXES = ("/api/", "/_dash-", "/_reload-hash", "/_favicon", "/assets/")
CSRF_COOKIE = "_csrf_token"
SESSION_LIFETIME = timedelta(hours=12)  # idle: refreshed by every request
SESSION_ABSOLUTE = timedelta(days=7)  # from signing in, whatever happens meanwhile
DEVICE_COOKIE = "irm_device"  # "a browser that signed in to this account before" (see LoginThrottle)
DEVICE_LIFETIME = timedelta(days=365)
# Password checks are scrypt (~32 MiB and tens of ms each): a few at once, and a request that
# cannot get a turn quickly is answered 429 instead of holding one of the server's threads.
PASSWORD_CHECK_SLOTS = 2
PASSWORD_CHECK_WAIT_S = 0.25
# The dashboard needs none of the browser's powerful features.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), "
    "display-capture=(), clipboard-read=(), interest-cohort=()"
)
# A hash to check against when the account does not exist, so timing does not reveal which
# addresses are users.
_DUMMY_HASH = generate_password_hash("not a real password, only for constant timing")


# -- the session user ----------------------------------------------------------------------------
class SessionUser(UserMixin):
    """What Flask-Login keeps: the user row; the session id is bound to the password hash."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}:{_fingerprint(self.user)}"

    @property
    def is_active(self) -> bool:
        return bool(self.user.is_active)


def _fingerprint(user: User) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, (user.password_hash or "").encode(), hashlib.sha256).hexdigest()[:24]


def _load_user(session_id: str) -> SessionUser | None:
    user_id, _, rest = (session_id or "").partition(":")
    version, _, fingerprint = rest.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = User.get_or_none((User.id == int(user_id)) & User.is_active)
    if user is None or not user.password_hash or int(version) != user.session_version:
        return None
    if not hmac.compare_digest(fingerprint, _fingerprint(user)):
        return None
    return SessionUser(user)


def _browser() -> str:
    return hashlib.sha256(request.headers.get("User-Agent", "").encode()).hexdigest()[:24]


def _session_expired_or_moved() -> bool:
    """This cookie's session is past its absolute lifetime, or came from another browser."""
    signed_in_at = session.get("signed_in_at")
    now = runtime().clock.now().timestamp()
    if not isinstance(signed_in_at, (int, float)) or now - signed_in_at > SESSION_ABSOLUTE.total_seconds():
        return True
    return not hmac.compare_digest(str(session.get("browser", "")), _browser())


# -- cookies -------------------------------------------------------------------------------------
def request_is_https() -> bool:
    """TLS reached us directly, or StartOS's LAN proxy says it terminated it (Tor is plain HTTP
    to an .onion, where a Secure cookie would never come back)."""
    return request.is_secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


class SessionInterface(SecureCookieSessionInterface):
    """The signed-cookie session, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request_is_https()


# -- login throttling ----------------------------------------------------------------------------
class LoginThrottle:
    """Growing delays after failed logins, per key: the first `limit` failures in `window_s` cost
    nothing, then each further attempt waits `base_s`, doubling with every failure, up to
    `max_delay_s`, counted from the last failure. No hard lock: a lock keyed by account let
    anyone shut the real person out for good by failing five times every quarter hour.

    Keys are accounts (`user:<email>`) or known devices (`device:<id>`): a browser that has
    signed in to an account before carries a signed cookie, and its attempts are counted apart,
    so a spray against the account never delays the owner's own browser. Client addresses are
    no key: behind StartOS's proxies and Tor every client has the same one. In memory: a
    restart resets it.

    Memory is bounded without letting a spray of made-up addresses clear real delays: past
    `max_keys` keys, the least recently failed ones that are not delayed go first (expired
    ones are among them); a delayed key is kept until its failures leave the window, unless
    delayed keys alone pass ten times `max_keys` (then the oldest go)."""

    def __init__(
        self,
        limit: int = 5,
        window_s: float = 900.0,
        clock=time.monotonic,
        max_keys: int = 10_000,
        base_s: float = 1.0,
        max_delay_s: float = 300.0,
    ) -> None:
        self.limit, self.window_s, self.clock, self.max_keys = limit, window_s, clock, max_keys
        self.base_s, self.max_delay_s = base_s, max_delay_s
        self._failures: OrderedDict[str, deque] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    def delay_after(self, failures: int) -> float:
        """The wait after this many recent failures."""
        if failures < self.limit:
            return 0.0
        return min(self.max_delay_s, self.base_s * 2 ** min(failures - self.limit, 30))

    def _recent(self, failures: deque, now: float) -> int:
        return sum(1 for at in failures if at > now - self.window_s)

    def retry_after(self, *keys: str) -> float:
        now = self.clock()
        with self._lock:
            waits = []
            for key in keys:
                failures = self._failures.get(key)
                if not failures:
                    continue
                while failures and failures[0] <= now - self.window_s:
                    failures.popleft()
                if failures:
                    waits.append(failures[-1] + self.delay_after(len(failures)) - now)
            return max(0.0, max(waits, default=0.0))

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                failures = self._failures.pop(key, None)
                if failures is None:
                    self._make_room(now)
                    failures = deque(maxlen=self.limit + 32)
                failures.append(now)
                self._failures[key] = failures

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _make_room(self, now: float) -> None:
        """Called with the lock held, before a new account is tracked. Frees a tenth of the room at
        once, so a spray pays for one scan per thousand addresses, not one per address."""
        if len(self._failures) < self.max_keys:
            return
        target = self.max_keys * 9 // 10
        for key in [k for k, failures in self._failures.items() if self._recent(failures, now) < self.limit]:
            if len(self._failures) <= target:
                return
            del self._failures[key]
        while len(self._failures) >= self.max_keys * 10:
            self._failures.popitem(last=False)


# -- known devices -------------------------------------------------------------------------------
def _device_mac(user_id: int, device: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"device:{user_id}.{device}".encode(), hashlib.sha256).hexdigest()[:32]


def known_device(user: User | None) -> str | None:
    """The id of this browser if it signed in to `user`'s account before (a signed cookie)."""
    user_id, _, rest = request.cookies.get(DEVICE_COOKIE, "").partition(".")
    device, _, mac = rest.partition(".")
    if user is None or user_id != str(user.id) or len(device) != 16:
        return None
    return device if hmac.compare_digest(mac, _device_mac(user.id, device)) else None


def remember_device(response: Response, user: User, device: str | None) -> None:
    device = device or secrets.token_hex(8)
    response.set_cookie(
        DEVICE_COOKIE,
        f"{user.id}.{device}.{_device_mac(user.id, device)}",
        max_age=int(DEVICE_LIFETIME.total_seconds()),
        secure=request_is_https(),
        httponly=True,
        samesite="Lax",
    )


# -- redirects -----------------------------------------------------------------------------------
def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after logging in, or `default`: never another host (`//evil`,
    `https://evil`, `/\\evil`), never a scheme (`javascript:`), never a control character."""
    if not target or len(target) > 2000:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target) or "\\" in target:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    if target.startswith(("/login", "/logout")):
        return default
    return target


def _page_request() -> bool:
    return request.method in {"GET", "HEAD"} and not request.path.startswith(MACHINE_PREFIXES)


def _deny(status: int, message: str, **extra):
    body = {"error": message, **extra}
    return jsonify(body), status


# -- the hook ------------------------------------------------------------------------------------
def install(app: Flask) -> None:
    """Sessions, CSRF, the login/logout views and the deny-by-default hook. Call this before
    mounting Dash, so the hook runs before Dash's own."""
    app.config.update(
        {
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_NAME": "irm_session",
            "PERMANENT_SESSION_LIFETIME": SESSION_LIFETIME,
            "REMEMBER_COOKIE_DURATION": timedelta(0),
            # The token lives as long as the session; a dashboard left open an hour keeps working.
            "WTF_CSRF_TIME_LIMIT": None,
            "WTF_CSRF_CHECK_DEFAULT": False,
        }
    )
    app.session_interface = SessionInterface()
    login_manager = LoginManager()
    login_manager.session_protection = None  # see the module docstring: `_session_expired_or_moved`
    login_manager.user_loader(_load_user)
    login_manager.init_app(app)
    app.extensions["login_throttle"] = LoginThrottle(clock=lambda: runtime().clock.monotonic())
    app.extensions["password_checks"] = threading.BoundedSemaphore(PASSWORD_CHECK_SLOTS)

    @app.before_request
    def _authenticate():
        g.user = None
        g.via_token = False
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        header = request.headers.get("Authorization", "")
        if path.startswith("/api/") and header[:7].lower() == "bearer ":
            g.user = user_for_token(header[7:].strip(), runtime().clock.now())
            g.via_token = g.user is not None
            if g.user is None:
                return _deny(401, "invalid or revoked API token")
        elif current_user.is_authenticated:
            if _session_expired_or_moved():
                logout_user()
                session.clear()
            else:
                g.user = current_user.user
        if g.user is None:
            if path == "/logout":
                return redirect(url_for("login"))
            if _page_request():
                return redirect(url_for("login", next=request.full_path.rstrip("?")))
            return _deny(401, "authentication required")
        if not g.via_token and request.method not in SAFE_METHODS:
            token = request.headers.get("X-CSRFToken") or request.form.get("csrf_token", "")
            try:
                validate_csrf(token)
            except (CSRFValidationError, CSRFError) as exc:
                return _deny(400, f"CSRF check failed: {exc}", field="csrf_token")
        dashboard = current_app.extensions.get("dashboard")
        if dashboard is not None:
            if path.endswith("/_dash-update-component") and request.method == "POST":
                body = request.get_json(silent=True)
                output = body.get("output") if isinstance(body, dict) else None
                access = dashboard.callback_access(output if isinstance(output, str) else "")
                if access is None:
                    return _deny(400, "unknown callback", field="output")
                if access == "admin" and not g.user.is_admin:
                    return _deny(403, "admin only")
            elif _page_request() and not g.user.is_admin and path != "/logout":
                access = dashboard.page_access(path)
                if access == "admin":
                    return redirect("/")
                if access is None:  # no such page: a teammate gets nothing else to probe
                    return _deny(404, "not found")
        return None

    @app.after_request
    def _cookies_and_headers(response: Response) -> Response:
        if not g.get("via_token") and current_user.is_authenticated:
            # dash-renderer sends this back as X-CSRFToken on every callback.
            response.set_cookie(
                CSRF_COOKIE,
                generate_csrf(),
                secure=request_is_https(),
                httponly=False,
                samesite="Lax",
                max_age=int(SESSION_LIFETIME.total_seconds()),
            )
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        policy = current_app.extensions.get("content_security_policy")
        if policy:
            headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if request_is_https():  # never over Tor's plain-HTTP .onion, where it could not be kept
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        no_store = ("/api/", "/_dash-update-component", "/_dash-layout", "/login")
        if request.path.startswith(no_store) or response.mimetype == "text/html":
            headers.setdefault("Cache-Control", "no-store")
        return response

    @app.route("/login", methods=["GET", "POST"], endpoint="login")
    def login():
        target = safe_next(request.values.get("next"))
        if request.method == "GET":
            if current_user.is_authenticated:
                if not _session_expired_or_moved():
                    return redirect(target)
                logout_user()
                session.clear()
            return _login_page(target)
        try:
            validate_csrf(request.form.get("csrf_token", ""))
        except (CSRFValidationError, CSRFError):
            return _login_page(target, "Your session expired. Please try again.", 400)
        email = request.form.get("email", "").strip().lower()[:320]
        password = request.form.get("password", "")[:1000]
        throttle: LoginThrottle = current_app.extensions["login_throttle"]
        user = User.get_or_none(User.email == email)
        device = known_device(user)
        keys = (f"device:{user.id}.{device}",) if user is not None and device else (f"user:{email}",)
        wait = throttle.retry_after(*keys)
        if wait > 0:
            response = _login_page(
                target, f"Too many failed attempts. Try again in {_duration(wait)}.", 429, email=email
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        checks: threading.BoundedSemaphore = current_app.extensions["password_checks"]
        if not checks.acquire(timeout=PASSWORD_CHECK_WAIT_S):
            response = _login_page(target, "Signing in is busy. Try again in a moment.", 429, email=email)
            response.headers["Retry-After"] = "1"
            return response
        try:
            if user is None or not user.password_hash:
                check_password_hash(_DUMMY_HASH, password)
                ok = False
            else:
                ok = verify_password(user, password) and user.is_active
        finally:
            checks.release()
        if not ok:
            throttle.failed(*keys)
            current_app.logger.warning("failed dashboard login for %r from %s", email, request.remote_addr)
            return _login_page(target, "Wrong email or password.", 401, email=email)
        throttle.succeeded(*keys)
        session.clear()  # a fresh session: nothing chosen before login survives it (fixation)
        login_user(SessionUser(user))
        session.permanent = True
        session["signed_in_at"] = runtime().clock.now().timestamp()
        session["browser"] = _browser()
        audit.record(
            "user.login",
            runtime().clock.now(),
            actor=user,
            target_type="user",
            target_id=user.id,
        )
        response = redirect(target)
        remember_device(response, user, device)
        return response

    @app.route("/logout", methods=["GET", "POST"], endpoint="logout")
    def logout():
        if request.method == "GET":  # signing out changes state: only a POST (with CSRF) does it
            return redirect("/")
        if g.user is not None:
            end_sessions(g.user.id)  # a copy of this cookie, wherever it is, dies with it
        logout_user()
        session.clear()
        response = redirect(url_for("login"))
        response.delete_cookie(CSRF_COOKIE)
        return response


def _duration(seconds: float) -> str:
    return f"{int(seconds) + 1} second(s)" if seconds < 60 else f"{int(seconds // 60) + 1} minute(s)"


def admin_required(view):
    """API views: 401 JSON without a user, 403 JSON for a non-admin (checked server-side)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        user = g.get("user")
        if user is None:
            return jsonify({"error": "authentication required"}), 401
        if not user.is_admin:
            return jsonify({"error": "admin only"}), 403
        return view(*args, **kwargs)

    return wrapper


def current_user_row() -> User | None:
    """The authenticated user of this request (session or token), or None."""
    return g.get("user")


_LOGIN_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · IR Mail Desk</title>
<link rel="stylesheet" href="{{ url_for('static', filename='bootstrap.min.css') }}">
<link rel="stylesheet" href="{{ url_for('static', filename='theme.css') }}">
</head>
<body class="login-body">
<main class="login-card card shadow-sm">
  <div class="card-body p-4">
    <h1 class="h4 mb-1">IR Mail Desk</h1>
    <p class="text-muted mb-4">Sign in to the fund's dashboard.</p>
    {% if error %}<div class="alert alert-danger py-2" role="alert" id="login-error">{{ error }}</div>{% endif %}
    <form method="post" action="{{ url_for('login') }}" autocomplete="on">
      <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
      <input type="hidden" name="next" value="{{ next }}">
      <div class="mb-3">
        <label class="form-label" for="email">Email</label>
        <input class="form-control" id="email" name="email" type="email" value="{{ email }}" required autofocus
               autocomplete="username">
      </div>
      <div class="mb-3">
        <label class="form-label" for="password">Password</label>
        <input class="form-control" id="password" name="password" type="password" required
               autocomplete="current-password">
      </div>
      <button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button>
    </form>
    <p class="small text-muted mt-4 mb-0">No account yet? An admin creates it; the first admin comes from the
      StartOS "Create Admin" action or <code>python -m appsrc users add EMAIL --admin --password-stdin</code>.</p>
  </div>
</main>
</body>
</html>"""


def _login_page(target: str, error: str = "", status: int = 200, email: str = "") -> Response:
    html = render_template_string(_LOGIN_PAGE, csrf_token=generate_csrf(), next=target, error=error, email=email)
    return Response(html, status=status, mimetype="text/html")
