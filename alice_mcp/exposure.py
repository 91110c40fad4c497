"""How `alice mcp-server --transport http` may be reached: a bearer token checked on every request
(the SDK's TokenVerifier/AuthSettings hooks), the Host and Origin names it answers to (the SDK's
TransportSecuritySettings, always set), and the rule that only loopback may go without a token."""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import sys
from pathlib import Path

import platformdirs
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from alice_mcp.config import APP_NAME, ServerSettings
from alice_mcp.errors import SettingsError

TOKEN_FILE_NAME = "server-token"
TOKEN_BYTES = 32  # 256 bits, 43 URL-safe characters
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def default_token_file() -> Path:
    """Where `--new-token` stores the token: the user config folder (platformdirs, any OS)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / TOKEN_FILE_NAME


def is_loopback(host: str) -> bool:
    """True for names that only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(conf: ServerSettings) -> str | None:
    """server.auth_token, else the file server.token_file (--token-file) names, else the file
    `--new-token` wrote if there is one; None when no token is configured."""
    if conf.auth_token is not None and conf.auth_token.get_secret_value().strip():
        return conf.auth_token.get_secret_value().strip()
    path = conf.token_file.expanduser() if conf.token_file else default_token_file()
    if conf.token_file is None and not path.is_file():
        return None
    try:
        token = path.read_text("utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the token file {path} (server.token_file): "
                            f"{exc.strerror}; make one with `alice mcp-server --new-token`") from None
    if len(token) < 16:
        raise SettingsError(f"the token file {path} holds no token of at least 16 characters; "
                            "make one with `alice mcp-server --new-token`")
    return token


def new_token(path: Path | None = None) -> tuple[str, Path]:
    """A fresh random token, written to path (default: the user config folder) readable by
    its owner only (0600; on Windows the folder is the user's own profile)."""
    path = (path or default_token_file()).expanduser()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    if sys.platform != "win32":
        os.chmod(path, 0o600)  # an older file may have been created with wider rights
    return token, path


def refuse_unprotected(host: str, port: int, token: str | None) -> None:
    """SettingsError when HTTP would listen beyond loopback without a token."""
    if token or is_loopback(host):
        return
    raise SettingsError(
        f"refusing to serve HTTP on {host or 'every address'}:{port} without a token: anyone "
        "who can reach it could organize or move files, retag, start paid analyze runs and "
        "read every prompt and path. Make a token with `alice mcp-server --new-token` (stored "
        f"in {default_token_file()} and used from then on), or set server.auth_token "
        "(ALICE_SERVER__AUTH_TOKEN) or --token-file FILE; clients send the header "
        "`Authorization: Bearer <token>`. To serve this machine only, use --host 127.0.0.1")


class StaticTokenVerifier(TokenVerifier):
    """Accepts exactly one bearer token, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode("utf-8")

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode("utf-8"), self._expected):
            # the token itself is not kept in the request scope: nothing downstream can echo it
            return AccessToken(token="static", client_id="alice", scopes=[])
        return None


def auth_hooks(token: str, port: int) -> dict[str, object]:
    """MCPServer keyword arguments that make every HTTP request carry the bearer token. No OAuth:
    no resource metadata is published, so the issuer URL is only the SDK's required field."""
    return {"token_verifier": StaticTokenVerifier(token),
            "auth": AuthSettings(issuer_url=f"http://localhost:{port}", resource_server_url=None)}


def transport_security(conf: ServerSettings) -> TransportSecuritySettings:
    """Host/Origin checks (DNS rebinding) on every bind address: loopback names, the bind host
    itself when it is one address, and server.allowed_hosts / server.allowed_origins."""
    names = list(LOOPBACK_NAMES)
    if conf.host not in WILDCARD_HOSTS:
        names.append(f"[{conf.host}]" if ":" in conf.host else conf.host)
    hosts = [h for name in names for h in (name, f"{name}:*")]
    origins = [o for name in names for o in (f"http://{name}", f"http://{name}:*")]
    for given in conf.allowed_hosts:
        bare = given.endswith("]") or ":" not in given
        hosts += [given, f"{given}:*"] if bare else [given]
    origins += [o.rstrip("/") for o in conf.allowed_origins]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=list(dict.fromkeys(hosts)),
                                     allowed_origins=list(dict.fromkeys(origins)))


async def serve_http(server: MCPServer, conf: ServerSettings,
                     security: TransportSecuritySettings) -> None:
    """Serve streamable HTTP with uvicorn, as the SDK's run_streamable_http_async does, but
    with uvicorn's own logging off: its default configuration writes the access log to stdout,
    and alice's logs go to stderr (structlog) in every mode."""
    import uvicorn

    app = server.streamable_http_app(transport_security=security, host=conf.host)
    config = uvicorn.Config(app, host=conf.host, port=conf.port, log_config=None,
                            access_log=False, log_level=conf.log_level.lower())
    await uvicorn.Server(config).serve()
